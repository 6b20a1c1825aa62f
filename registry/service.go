package registry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/hemlabs/hem/contract"
	registryv1 "github.com/hemlabs/hem/gen/hem/registry/v1"
)

// Service is the gRPC API of a Registry (hem.registry.v1.RegistryService).
// Reads are open; Register needs a credential with schema_write (see
// ServiceOption), except dry runs. It is safe for concurrent use.
type Service struct {
	registryv1.UnimplementedRegistryServiceServer

	r    *Registry
	cfg  serviceConfig
	stop chan struct{}
	once sync.Once
}

var _ registryv1.RegistryServiceServer = (*Service)(nil)

// NewService serves r.
func NewService(r *Registry, opts ...ServiceOption) (*Service, error) {
	if r == nil {
		return nil, errors.New("registry: service: nil registry")
	}
	var cfg serviceConfig
	for _, o := range opts {
		o.applyService(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Service{r: r, cfg: cfg, stop: make(chan struct{})}, nil
}

// Shutdown ends every Watch stream (their clients reconnect elsewhere) and
// makes new ones end at once. Call it before grpc.Server.GracefulStop, which
// would otherwise wait for the streams. Serve does.
func (s *Service) Shutdown() { s.once.Do(func() { close(s.stop) }) }

// Register checks and stores the event messages of a descriptor set.
func (s *Service) Register(ctx context.Context, req *registryv1.RegisterRequest) (*registryv1.RegisterResponse, error) {
	opts := []RegisterOption{WithCommit(req.GetCommit()), AcknowledgeRetention(req.GetAcknowledgeRetention()...)}
	if req.GetDryRun() {
		opts = append(opts, DryRun())
	} else {
		who, err := s.authorizeWrite(ctx)
		if err != nil {
			return nil, err
		}
		opts = append(opts, PushedBy(who))
	}
	// Checked before the descriptors: a bad commit is the cheaper error to
	// report and names its field.
	if err := validCommit(req.GetCommit()); err != nil {
		return nil, grpcError(err)
	}
	candidates, err := candidatesOf(req.GetFileDescriptorSet(), req.GetSubjects())
	if err != nil {
		return nil, grpcError(err)
	}
	results, err := s.r.Register(ctx, candidates, opts...)
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &registryv1.RegisterResponse{}
	for _, res := range results {
		sr := &registryv1.SubjectResult{Subject: res.Subject, Outcome: res.Outcome.Proto()}
		if res.Schema != nil {
			sr.Version = int32(res.Schema.Version)
			sr.Id = res.Schema.ID
			sr.State = registryv1.SchemaState(res.Schema.State)
		}
		for _, v := range res.Violations {
			sr.Violations = append(sr.Violations, &registryv1.Violation{RuleId: v.Rule, Path: v.Path, Message: v.Message})
		}
		for _, v := range res.Acknowledged {
			sr.Acknowledged = append(sr.Acknowledged, &registryv1.Violation{RuleId: v.Rule, Path: v.Path, Message: v.Message})
		}
		resp.Results = append(resp.Results, sr)
	}
	slices.SortFunc(resp.Results, func(a, b *registryv1.SubjectResult) int { return cmp.Compare(a.Subject, b.Subject) })
	return resp, nil
}

// candidatesOf builds one self-contained schema per subject from a
// descriptor set; no subjects means every event message outside hem.*.
func candidatesOf(fdsBytes []byte, subjects []string) ([]*contract.Schema, error) {
	var fds descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(fdsBytes, &fds); err != nil {
		return nil, fmt.Errorf("decode descriptor set: %v: %w", err, ErrInvalid)
	}
	if len(fds.GetFile()) == 0 {
		return nil, fmt.Errorf("empty descriptor set: %w", ErrInvalid)
	}
	// Sets concatenated by a client may name a shared import twice.
	byName := map[string]*descriptorpb.FileDescriptorProto{}
	files := fds.File[:0]
	for _, f := range fds.File {
		if prev, ok := byName[f.GetName()]; ok {
			if !proto.Equal(prev, f) {
				return nil, fmt.Errorf("descriptor set holds two different files %s: %w", f.GetName(), ErrInvalid)
			}
			continue
		}
		byName[f.GetName()] = f
		files = append(files, f)
	}
	fds.File = files
	resolved, err := protodesc.NewFiles(&fds)
	if err != nil {
		return nil, fmt.Errorf("resolve descriptor set: %v: %w", err, ErrInvalid)
	}
	if len(subjects) == 0 {
		resolved.RangeFiles(func(f protoreflect.FileDescriptor) bool {
			walkEvents(f.Messages(), func(md protoreflect.MessageDescriptor) {
				if !Reserved(string(md.FullName())) {
					subjects = append(subjects, string(md.FullName()))
				}
			})
			return true
		})
		if len(subjects) == 0 {
			return nil, fmt.Errorf("no event messages (with option (hem.options.v1.event)) in the descriptor set: %w", ErrInvalid)
		}
		slices.Sort(subjects)
	}
	out := make([]*contract.Schema, 0, len(subjects))
	for _, subject := range subjects {
		s, err := schemaOfSubject(resolved, subject)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func schemaOfSubject(files *protoregistry.Files, subject string) (*contract.Schema, error) {
	d, err := files.FindDescriptorByName(protoreflect.FullName(subject))
	if err != nil {
		return nil, fmt.Errorf("subject %s: not in the descriptor set: %w", subject, ErrInvalid)
	}
	md, ok := d.(protoreflect.MessageDescriptor)
	if !ok {
		return nil, fmt.Errorf("subject %s: not a message: %w", subject, ErrInvalid)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(contract.DescriptorSet(md.ParentFile()))
	if err != nil {
		return nil, fmt.Errorf("subject %s: %w", subject, err)
	}
	s, err := contract.Parse(subject, b)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrInvalid)
	}
	return s, nil
}

func walkEvents(msgs protoreflect.MessageDescriptors, fn func(protoreflect.MessageDescriptor)) {
	for i := range msgs.Len() {
		md := msgs.Get(i)
		if md.IsMapEntry() {
			continue
		}
		if _, ok := contract.EventOptions(md); ok {
			fn(md)
		}
		walkEvents(md.Messages(), fn)
	}
}

// GetSchema fetches one version by id, by subject and version, or the
// latest usable version of a subject.
func (s *Service) GetSchema(ctx context.Context, req *registryv1.GetSchemaRequest) (*registryv1.GetSchemaResponse, error) {
	var (
		sc  *contract.Schema
		err error
	)
	switch {
	case req.GetId() < 0 || req.GetVersion() < 0:
		return nil, status.Error(codes.InvalidArgument, "id and version must not be negative")
	case req.GetId() > 0:
		sc, err = s.r.ByID(ctx, req.GetId())
	case req.GetSubject() == "":
		return nil, status.Error(codes.InvalidArgument, "set an id, or a subject (and a version)")
	case req.GetVersion() > 0:
		sc, err = s.r.Version(ctx, req.GetSubject(), int(req.GetVersion()))
	default:
		sc, err = s.r.Latest(ctx, req.GetSubject())
	}
	if err != nil {
		return nil, grpcError(err)
	}
	return &registryv1.GetSchemaResponse{Schema: sc.Proto(true)}, nil
}

// ListSubjects lists every subject with its latest version.
func (s *Service) ListSubjects(ctx context.Context, _ *registryv1.ListSubjectsRequest) (*registryv1.ListSubjectsResponse, error) {
	subjects, err := s.r.Subjects(ctx)
	if err != nil {
		return nil, grpcError(err)
	}
	return &registryv1.ListSubjectsResponse{Subjects: subjects}, nil
}

// ListVersions lists the versions of one subject, without descriptor sets.
func (s *Service) ListVersions(ctx context.Context, req *registryv1.ListVersionsRequest) (*registryv1.ListVersionsResponse, error) {
	if req.GetSubject() == "" {
		return nil, status.Error(codes.InvalidArgument, "subject is required")
	}
	versions, err := s.r.Versions(ctx, req.GetSubject())
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &registryv1.ListVersionsResponse{}
	for _, v := range versions {
		resp.Versions = append(resp.Versions, v.Proto(false))
	}
	return resp, nil
}

// Watch streams usable versions with an id above after_id, then each
// version as it becomes usable, until the client goes away or the service
// shuts down.
func (s *Service) Watch(req *registryv1.WatchRequest, stream registryv1.RegistryService_WatchServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := s.r.Watch(ctx, req.GetAfterId(), func(sc *contract.Schema) error {
		return stream.Send(&registryv1.WatchResponse{Schema: sc.Proto(true)})
	})
	if err != nil {
		return grpcError(err)
	}
	return nil
}

// grpcError maps registry errors to gRPC status codes; this is the only
// place that does.
func grpcError(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	var merr *MigrationError
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, ErrConflict):
		return status.Error(codes.Aborted, err.Error())
	case errors.As(err, &merr) && isPermanent(err):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.As(err, &merr):
		// Retrying the same push retries the migration.
		return status.Error(codes.Unavailable, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}
