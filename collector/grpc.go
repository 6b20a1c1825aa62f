package collector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hemlabs/hem/auth"
	collectorv1 "github.com/hemlabs/hem/gen/hem/collector/v1"
	eventv1 "github.com/hemlabs/hem/gen/hem/event/v1"
)

// healthSetter is the part of the gRPC health server the collector drives.
type healthSetter interface{ shutdown() }

type grpcHealth struct{ *health.Server }

func (h grpcHealth) shutdown() { h.Shutdown() }

// RegisterGRPC registers the CollectorService and the standard gRPC health
// service (SERVING until Close) on s. Call it once, before s.Serve. The
// server must be built with GRPCServerOptions: its codec charges each
// request to the in-flight budget before decoding it.
func (c *Collector) RegisterGRPC(s *grpc.Server) {
	svc := &grpcService{c: c}
	// The generated handlers decode a request before calling the service;
	// these authenticate first and hand the codec an admission instead.
	desc := collectorv1.CollectorService_ServiceDesc
	desc.Methods = []grpc.MethodDesc{{MethodName: "Collect", Handler: svc.collectHandler}}
	desc.Streams = []grpc.StreamDesc{{StreamName: "CollectStream", Handler: svc.collectStreamHandler, ServerStreams: true, ClientStreams: true}}
	s.RegisterService(&desc, svc)
	h := health.NewServer()
	h.SetServingStatus(collectorv1.CollectorService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, h)
	c.health = grpcHealth{h}
}

// GRPCServerOptions are the server options the collector needs: a receive
// limit that fits the largest batch the limits allow, and the codec that
// charges a request before decoding it.
func (c *Collector) GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(c.cfg.limits.MaxBatchBytes + grpcOverhead),
		grpc.ForceServerCodecV2(newAdmissionCodec()),
		// Long-lived stream workers keep their grown stacks: a goroutine per
		// request spends a tenth of the collector's CPU growing its stack.
		// Handlers wait for Pub/Sub, so the pool is sized for concurrent
		// requests, not cores; beyond it gRPC falls back to a goroutine.
		grpc.NumStreamWorkers(streamWorkers),
	}
}

// streamWorkers is the gRPC handler pool: idle workers cost a few KiB of
// stack each.
const streamWorkers = 1024

type grpcService struct {
	collectorv1.UnimplementedCollectorServiceServer
	c *Collector
}

func credentialsFromMD(ctx context.Context) credentials {
	md, _ := metadata.FromIncomingContext(ctx)
	first := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	return credentials{apiKey: first(auth.APIKeyHeader), bearer: bearerToken(first("authorization"))}
}

func (s *grpcService) principal(ctx context.Context) (*auth.Principal, error) {
	if b := h2cBodyOf(ctx); b != nil && b.p != nil {
		return b.p, nil // the shared port authenticated the request
	}
	p, err := s.c.authenticate(ctx, credentialsFromMD(ctx))
	if err != nil {
		s.c.metrics.refused(ctx, "unauthenticated")
		return nil, toStatus(fmt.Errorf("%w: %v", ErrUnauthenticated, err))
	}
	return p, nil
}

// Collect serves a request decoded already, charging it after decoding.
// RegisterGRPC serves Collect with collectHandler instead.
func (s *grpcService) Collect(ctx context.Context, req *collectorv1.CollectRequest) (*collectorv1.CollectResponse, error) {
	p, err := s.principal(ctx)
	if err != nil {
		return nil, err
	}
	return s.collect(ctx, p, req, chargedNothing)
}

func (s *grpcService) collect(ctx context.Context, p *auth.Principal, req *collectorv1.CollectRequest, ch charged) (*collectorv1.CollectResponse, error) {
	if err := unknownFields("CollectRequest", req.ProtoReflect()); err != nil {
		return nil, toStatus(err)
	}
	results, err := s.c.collect(ctx, p, eventInputs(req.GetEvents()), ch)
	if err != nil {
		return nil, toStatus(err)
	}
	return &collectorv1.CollectResponse{Results: results}, nil
}

// collectHandler is Collect's gRPC handler: it authenticates the producer
// before the request is read, and has the codec charge the request before
// decoding it.
func (s *grpcService) collectHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	p, err := s.principal(ctx)
	if err != nil {
		return nil, err
	}
	a := &admission{c: s.c, p: p, h2c: h2cBodyOf(ctx), msg: new(collectorv1.CollectRequest)}
	defer a.done()
	if err := dec(a); err != nil {
		return nil, err
	}
	if a.err != nil {
		s.c.metrics.refused(ctx, a.reason)
		return nil, toStatus(a.err)
	}
	req := a.msg.(*collectorv1.CollectRequest)
	if interceptor == nil {
		return s.collect(ctx, p, req, chargedAll)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: collectorv1.CollectorService_Collect_FullMethodName}
	return interceptor(ctx, req, info, func(ctx context.Context, req any) (any, error) {
		return s.collect(ctx, p, req.(*collectorv1.CollectRequest), chargedAll)
	})
}

func (s *grpcService) collectStreamHandler(_ any, stream grpc.ServerStream) error {
	return s.collectStream(stream)
}

// streamConcurrency bounds the batches of one stream processed at once.
const streamConcurrency = 8

// CollectStream is collectStream; it needs the codec of
// GRPCServerOptions.
func (s *grpcService) CollectStream(stream collectorv1.CollectorService_CollectStreamServer) error {
	return s.collectStream(stream)
}

// collectStream receives each batch through the codec, which charges it
// before decoding it (when the server has it); a batch the budget has no
// room for is answered RETRY and the stream goes on.
func (s *grpcService) collectStream(stream grpc.ServerStream) error {
	ctx := stream.Context()
	p, err := s.principal(ctx)
	if err != nil {
		return err
	}
	// Recv blocks; it runs on its own and ends when the handler returns
	// (gRPC cancels the stream then).
	reqs := make(chan *admission)
	recvErr := make(chan error, 1)
	go func() {
		for {
			a := &admission{c: s.c, p: p, h2c: h2cBodyOf(ctx), msg: new(collectorv1.CollectStreamRequest)}
			if err := stream.RecvMsg(a); err != nil {
				a.done()
				recvErr <- err
				return
			}
			select {
			case reqs <- a:
			case <-ctx.Done():
				a.done()
				return
			}
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(streamConcurrency)
	var sendMu sync.Mutex
	send := func(resp *collectorv1.CollectStreamResponse) error {
		sendMu.Lock()
		defer sendMu.Unlock()
		return stream.SendMsg(resp)
	}
	for {
		var a *admission
		select {
		case a = <-reqs:
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				return g.Wait()
			}
			_ = g.Wait()
			return err
		case <-gctx.Done():
			return g.Wait()
		}
		if a.err != nil {
			a.done()
			s.c.metrics.refused(ctx, a.reason)
			// A batch the shared port did not read has no events to
			// answer: the stream ends with its refusal.
			if errors.Is(a.err, ErrBatchTooLarge) || a.unread {
				_ = g.Wait()
				return toStatus(a.err)
			}
			if err := send(&collectorv1.CollectStreamResponse{Sequence: a.head.sequence, Results: retryIDs(a.head.ids, a.err)}); err != nil {
				_ = g.Wait()
				return err
			}
			continue
		}
		req := a.msg.(*collectorv1.CollectStreamRequest)
		if err := unknownFields("CollectStreamRequest", req.ProtoReflect()); err != nil {
			a.done()
			_ = g.Wait()
			return toStatus(err)
		}
		g.Go(func() error {
			defer a.done()
			results, err := s.c.collect(gctx, p, eventInputs(req.GetEvents()), chargedAll)
			switch {
			case errors.Is(err, ErrOverloaded) || errors.Is(err, ErrQuotaExceeded) || errors.Is(err, ErrClosed):
				// Answer this batch RETRY and keep the stream.
				results = retryAll(req.GetEvents(), err)
			case err != nil:
				return toStatus(err)
			}
			return send(&collectorv1.CollectStreamResponse{Sequence: req.GetSequence(), Results: results})
		})
	}
}

// retryIDs answers the events of ids RETRY for err.
func retryIDs(ids []string, err error) []*collectorv1.EventResult {
	out := make([]*collectorv1.EventResult, len(ids))
	for i, id := range ids {
		out[i] = &collectorv1.EventResult{EventId: id, Status: collectorv1.EventStatus_EVENT_STATUS_RETRY, Message: err.Error()}
	}
	return out
}

func retryAll(events []*eventv1.Event, err error) []*collectorv1.EventResult {
	out := make([]*collectorv1.EventResult, len(events))
	for i, e := range events {
		out[i] = &collectorv1.EventResult{EventId: e.GetEventId(), Status: collectorv1.EventStatus_EVENT_STATUS_RETRY, Message: err.Error()}
	}
	return out
}

// unknownFields refuses a request that carries fields its message does not
// declare, as the HTTP endpoint refuses unknown JSON names: a field hem
// ignored silently would be data the producer believes was sent.
func unknownFields(name string, m protoreflect.Message) error {
	if n := firstUnknown(m.GetUnknown()); n > 0 {
		return fmt.Errorf("%w: %s has a field hem does not know (number %d)", ErrInvalidRequest, name, n)
	}
	return nil
}

// firstUnknown is the number of the first field in the unknown bytes u, or
// 0 when there is none.
func firstUnknown(u []byte) protowire.Number {
	if len(u) == 0 {
		return 0
	}
	if num, _, n := protowire.ConsumeTag(u); n > 0 {
		return num
	}
	return -1
}
