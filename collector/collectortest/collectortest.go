// Package collectortest runs a collector in-process for tests and examples:
// an in-memory schema source built from .proto files, an in-process Pub/Sub
// server (pstest) with a switchable outage, and the collector serving gRPC
// and HTTP on loopback ports chosen by the OS.
package collectortest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/collector"
	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/envelope"
)

// Schemas is an in-memory collector.Schemas. It is safe for concurrent use.
type Schemas struct {
	mu        sync.RWMutex
	bySubject map[string][]*contract.Schema
	byID      map[int64]*contract.Schema
	nextID    int64
	down      atomic.Bool
	calls     atomic.Int64
}

var _ collector.Schemas = (*Schemas)(nil)

// NewSchemas compiles every .proto under dir and registers each event type
// as version 1, usable, with ids 1, 2, ... in subject order.
func NewSchemas(ctx context.Context, dir string) (*Schemas, error) {
	src, err := contract.CompileDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	all, err := src.Schemas()
	if err != nil {
		return nil, err
	}
	s := &Schemas{bySubject: map[string][]*contract.Schema{}, byID: map[int64]*contract.Schema{}}
	for _, sc := range all {
		s.Add(sc, contract.Usable)
	}
	return s, nil
}

// Add registers sc as the next version of its subject and returns it with
// its identity.
func (s *Schemas) Add(sc *contract.Schema, state contract.State) *contract.Schema {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	v := sc.WithIdentity(s.nextID, len(s.bySubject[sc.Subject])+1, state, time.Now())
	s.bySubject[sc.Subject] = append(s.bySubject[sc.Subject], v)
	s.byID[v.ID] = v
	return v
}

// SetDown makes every lookup fail with UNAVAILABLE (a registry outage).
func (s *Schemas) SetDown(down bool) { s.down.Store(down) }

// Calls counts lookups.
func (s *Schemas) Calls() int64 { return s.calls.Load() }

// Latest returns the latest usable version of subject.
func (s *Schemas) Latest(_ context.Context, subject string) (*contract.Schema, error) {
	s.calls.Add(1)
	if s.down.Load() {
		return nil, status.Error(codes.Unavailable, "registry down")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	vs := s.bySubject[subject]
	for i := len(vs) - 1; i >= 0; i-- {
		if vs[i].State == contract.Usable {
			return vs[i], nil
		}
	}
	return nil, fmt.Errorf("subject %s: %w", subject, collector.ErrSchemaNotFound)
}

// ByID returns a version by id, whatever its state. A negative id is
// refused with INVALID_ARGUMENT, as the registry service does.
func (s *Schemas) ByID(_ context.Context, id int64) (*contract.Schema, error) {
	s.calls.Add(1)
	if s.down.Load() {
		return nil, status.Error(codes.Unavailable, "registry down")
	}
	if id < 0 {
		return nil, status.Error(codes.InvalidArgument, "id and version must not be negative")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if v, ok := s.byID[id]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("schema id %d: %w", id, collector.ErrSchemaNotFound)
}

// Outage is a pstest reactor that fails Publish calls with a code while
// switched on. pstest fixes reactors when the server starts, so this one is
// switchable instead.
type Outage struct {
	on    atomic.Bool
	Code  codes.Code
	calls atomic.Int64
}

// Set switches the outage on or off.
func (o *Outage) Set(on bool) { o.on.Store(on) }

// Refused counts the Publish calls refused so far.
func (o *Outage) Refused() int64 { return o.calls.Load() }

// React implements pstest.Reactor.
func (o *Outage) React(any) (bool, any, error) {
	if !o.on.Load() {
		return false, nil, nil
	}
	o.calls.Add(1)
	code := o.Code
	if code == codes.OK {
		code = codes.Unavailable
	}
	return true, &pubsubpb.PublishResponse{}, status.Error(code, "injected Pub/Sub outage")
}

// Option installs the reactor on Publish.
func (o *Outage) Option() pstest.ServerReactorOption {
	return pstest.ServerReactorOption{FuncName: "Publish", Reactor: o}
}

// Project is the Pub/Sub project of a Stack.
const Project = "hem-test"

// APIKey is the key of the Stack's producer "test-producer", which may send
// every type.
const APIKey = "hem_test_key"

// Stack is a collector with everything it needs, in-process.
type Stack struct {
	// PubSub is the fake Pub/Sub; its Addr takes requests as large as
	// Pub/Sub does (see servePubSub).
	PubSub    *pstest.Server
	Outage    *Outage
	Schemas   *Schemas
	Keyring   *auth.Keyring
	Collector *collector.Collector
	Client    *pubsub.Client
	// Addr is the gRPC address, HTTPAddr the HTTP/JSON one.
	Addr     string
	HTTPAddr string

	grpc *grpc.Server
	http *http.Server
	// pubsubGRPC serves PubSub's services with Pub/Sub's request limit.
	pubsubGRPC *grpc.Server
	conn       *grpc.ClientConn
	closed     sync.Once
}

// Start runs a Stack with the contracts under protoDir. opts come after
// the Stack's own (keyring with APIKey, a fixed salt), so they can override
// them, e.g. WithPublishSettings.
func Start(ctx context.Context, protoDir string, opts ...collector.Option) (st *Stack, err error) {
	schemas, err := NewSchemas(ctx, protoDir)
	if err != nil {
		return nil, err
	}
	st = &Stack{Outage: &Outage{}, Schemas: schemas, Keyring: auth.New()}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	st.Keyring.Add(APIKey, auth.Principal{Name: "test-producer", Types: []string{"*"}})
	st.PubSub = pstest.NewServer(st.Outage.Option())
	if err := st.servePubSub(); err != nil {
		return nil, err
	}
	st.conn, err = grpc.NewClient(st.PubSub.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	st.Client, err = pubsub.NewClient(ctx, Project, option.WithGRPCConn(st.conn))
	if err != nil {
		return nil, err
	}
	for _, t := range []string{envelope.EventsTopic, envelope.FailedTopic} {
		if _, err := st.Client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: TopicName(t)}); err != nil {
			return nil, fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	all := append([]collector.Option{
		collector.WithKeyring(st.Keyring),
		collector.WithPIISalt([]byte("collectortest-salt-0123456789")),
	}, opts...)
	st.Collector, err = collector.New(schemas, st.Client, all...)
	if err != nil {
		return nil, err
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	st.grpc = grpc.NewServer(st.Collector.GRPCServerOptions()...)
	st.Collector.RegisterGRPC(st.grpc)
	go func() { _ = st.grpc.Serve(gl) }()
	st.Addr = gl.Addr().String()
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	st.http = &http.Server{Handler: st.Collector.HTTPHandler(), ReadHeaderTimeout: 5 * time.Second}
	// HTTP/1 and h2c, as collector serve.
	st.http.Protocols = new(http.Protocols)
	st.http.Protocols.SetHTTP1(true)
	st.http.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = st.http.Serve(hl) }()
	st.HTTPAddr = hl.Addr().String()
	return st, nil
}

// servePubSub serves PubSub's services with Pub/Sub's own request limit
// (10 MiB; the client keeps a bundle under 10 MB) and points PubSub.Addr at
// them. pstest's server keeps gRPC's default of 4 MiB: it refused a bundle
// of four 1 MiB FailedEvents, which the client retried until its publish
// timeout, so the collector answered RETRY, every time, for events that
// Pub/Sub and hem dev (32 MiB) record.
func (s *Stack) servePubSub() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s.pubsubGRPC = grpc.NewServer(grpc.MaxRecvMsgSize(pubsubRequestLimit))
	pubsubpb.RegisterPublisherServer(s.pubsubGRPC, &s.PubSub.GServer)
	pubsubpb.RegisterSubscriberServer(s.pubsubGRPC, &s.PubSub.GServer)
	pubsubpb.RegisterSchemaServiceServer(s.pubsubGRPC, &s.PubSub.GServer)
	go func() { _ = s.pubsubGRPC.Serve(ln) }()
	s.PubSub.Addr = ln.Addr().String()
	return nil
}

// pubsubRequestLimit is the largest publish request Pub/Sub takes ("Request
// payload size exceeds the limit: 10485760 bytes").
const pubsubRequestLimit = 10 << 20

// TopicName is the full name of a topic of the Stack's project.
func TopicName(id string) string { return "projects/" + Project + "/topics/" + id }

// Published returns the messages published to topic (an id such as
// hem-events), oldest first.
func (s *Stack) Published(topic string) []*pstest.Message {
	var out []*pstest.Message
	for _, m := range s.PubSub.Messages() {
		if m.Topic == TopicName(topic) {
			out = append(out, m)
		}
	}
	return out
}

// Close stops everything. It is safe to call more than once.
func (s *Stack) Close() error {
	var errs []error
	s.closed.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if s.http != nil {
			errs = append(errs, s.http.Shutdown(ctx))
		}
		if s.grpc != nil {
			s.grpc.Stop()
		}
		if s.Collector != nil {
			errs = append(errs, s.Collector.Close(ctx))
		}
		if s.Client != nil {
			errs = append(errs, s.Client.Close())
		}
		if s.conn != nil {
			_ = s.conn.Close() // usually closed by the Pub/Sub client already
		}
		if s.pubsubGRPC != nil {
			s.pubsubGRPC.Stop()
		}
		if s.PubSub != nil {
			errs = append(errs, s.PubSub.Close())
		}
	})
	return errors.Join(errs...)
}
