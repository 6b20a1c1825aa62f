package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/bufbuild/protocompile"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/contract/protoprint"
	registryv1 "github.com/hemlabs/hem/gen/hem/registry/v1"
	"github.com/hemlabs/hem/registry"
)

// maxProto bounds a pasted .proto file.
const maxProto = 1 << 20

type tryData struct {
	Subject  string // the subject the edit started from, if any
	Path     string
	Proto    string
	Subjects []string
	Error    string // the compiler's or the request's complaint
	Results  []tryResult
}

// tryResult is the registry's dry-run verdict for one subject of the
// pasted file.
type tryResult struct {
	Subject    string
	Outcome    string // NEW, UNCHANGED, REJECTED
	Version    int
	Latest     int // the latest stored version, 0 for a new subject
	Violations []*registryv1.Violation
	Changes    []changeRow // against the latest stored version
}

// contractsTryForm shows the form, filled with the latest version's file
// of ?subject= when given.
func (s *Server) contractsTryForm(w http.ResponseWriter, r *http.Request) {
	d := tryData{Subject: r.FormValue("subject")}
	if d.Subject != "" {
		timeline, ok := s.versions(w, r, d.Subject)
		if !ok {
			return
		}
		sc, err := s.deps.Registry.Version(r.Context(), d.Subject, timeline[0].Version)
		if err != nil {
			s.failErr(w, r, err)
			return
		}
		v := viewVersion(sc, timeline)
		d.Path, d.Proto = v.File.Path, v.File.Text
	}
	s.page(w, r, http.StatusOK, "contracts-try", d)
}

// contractsTry compiles the pasted file (its imports resolve from the
// registry's stored files, then from the files linked into hem), then asks
// the registry for a dry run of every event it declares.
func (s *Server) contractsTry(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d := tryData{
		Subject: r.PostFormValue("subject"),
		Path:    strings.TrimSpace(r.PostFormValue("path")),
		Proto:   strings.ReplaceAll(r.PostFormValue("proto"), "\r\n", "\n"),
	}
	bad := func(msg string) {
		d.Error = msg
		s.page(w, r, http.StatusBadRequest, "contracts-try", d)
	}
	switch {
	case len(d.Proto) > maxProto:
		bad(fmt.Sprintf("The .proto file is larger than %d KiB.", maxProto>>10))
		return
	case strings.TrimSpace(d.Proto) == "":
		bad("Paste a .proto file to try.")
		return
	case !strings.HasSuffix(d.Path, ".proto") || strings.HasPrefix(d.Path, "/") || strings.Contains(d.Path, ".."):
		bad(fmt.Sprintf("The file's path %q must be a relative import path ending in .proto, e.g. shop/orders/v1/events.proto.", d.Path))
		return
	}
	src, err := contract.Compile(ctx, s.tryResolver(ctx, d.Path, d.Proto, d.Subject), d.Path)
	if err != nil {
		bad("The .proto does not compile:\n" + strings.TrimPrefix(err.Error(), "compile: "))
		return
	}
	req := &registryv1.RegisterRequest{DryRun: true}
	var schemas []*contract.Schema
	for _, md := range src.Events() {
		sc, err := src.Schema(string(md.FullName()))
		if err != nil {
			bad(fmt.Sprintf("%s: %v", md.FullName(), err))
			return
		}
		schemas = append(schemas, sc)
		req.FileDescriptorSet = append(req.FileDescriptorSet, sc.DescriptorSet()...)
		req.Subjects = append(req.Subjects, sc.Subject)
	}
	if len(schemas) == 0 {
		bad("The file declares no event type: a message with option (hem.options.v1.event) = {...}.")
		return
	}
	resp, err := s.deps.Registry.Register(ctx, req)
	if err != nil {
		if code := statusCode(err); code == http.StatusBadRequest {
			bad("The registry refuses this file: " + grpcMessage(err))
			return
		}
		s.failErr(w, r, err)
		return
	}
	for i, res := range resp.GetResults() {
		tr := tryResult{
			Subject: res.GetSubject(), Outcome: strings.TrimPrefix(res.GetOutcome().String(), "REGISTER_OUTCOME_"),
			Version: int(res.GetVersion()), Violations: res.GetViolations(),
		}
		if i < len(schemas) && schemas[i].Subject == tr.Subject {
			tr.Latest, tr.Changes = s.againstLatest(ctx, schemas[i])
		}
		d.Results = append(d.Results, tr)
	}
	s.page(w, r, http.StatusOK, "contracts-try", d)
}

// againstLatest diffs a candidate against its subject's latest version.
func (s *Server) againstLatest(ctx context.Context, cand *contract.Schema) (int, []changeRow) {
	vs, err := s.deps.Registry.Versions(ctx, cand.Subject)
	if err != nil || len(vs) == 0 {
		return 0, nil
	}
	n := int(vs[len(vs)-1].GetVersion())
	latest, err := s.deps.Registry.Version(ctx, cand.Subject, n)
	if err != nil {
		return n, nil
	}
	return n, changes(registry.Diff(latest, cand))
}

// tryResolver finds the pasted file, then imports among the files stored
// with the subject's latest version (or any subject's, for a file new to
// the edit), leaving hem's linked files to contract.Compile.
func (s *Server) tryResolver(ctx context.Context, path, text, subject string) protocompile.Resolver {
	// Stored files are printed back to source (protoprint round-trips
	// them) so the compiler links them with the same well-known types as
	// the pasted file.
	// protocompile may resolve imports from several goroutines at once.
	var stored map[string]string
	load := sync.OnceFunc(func() {
		stored = map[string]string{}
		subjects := []string{subject}
		if infos, err := s.deps.Registry.Subjects(ctx); err == nil {
			for _, si := range infos {
				if si.GetSubject() != subject {
					subjects = append(subjects, si.GetSubject())
				}
			}
		}
		for _, sub := range subjects {
			if sub == "" {
				continue
			}
			vs, err := s.deps.Registry.Versions(ctx, sub)
			if err != nil || len(vs) == 0 {
				continue
			}
			sc, err := s.deps.Registry.Version(ctx, sub, int(vs[len(vs)-1].GetVersion()))
			if err != nil || sc.Files() == nil {
				continue
			}
			files := sc.Files()
			files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
				if _, ok := stored[fd.Path()]; !ok && !linked(fd.Path()) {
					stored[fd.Path()] = protoprint.File(fd, files)
				}
				return true
			})
		}
	})
	return protocompile.ResolverFunc(func(name string) (protocompile.SearchResult, error) {
		if name == path {
			return protocompile.SearchResult{Source: strings.NewReader(text)}, nil
		}
		if linked(name) {
			return protocompile.SearchResult{}, errNotStored
		}
		load()
		if text, ok := stored[name]; ok {
			return protocompile.SearchResult{Source: strings.NewReader(text)}, nil
		}
		return protocompile.SearchResult{}, fmt.Errorf("%s: %w", name, errNotStored)
	})
}

var errNotStored = errors.New("not in the registry's stored files")

func grpcMessage(err error) string {
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus().Message()
	}
	return err.Error()
}
