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
// server should allow messages of the batch limit: see GRPCServerOptions.
func (c *Collector) RegisterGRPC(s *grpc.Server) {
	collectorv1.RegisterCollectorServiceServer(s, &grpcService{c: c})
	h := health.NewServer()
	h.SetServingStatus(collectorv1.CollectorService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, h)
	c.health = grpcHealth{h}
}

// GRPCServerOptions are the server options the collector needs: a receive
// limit that fits the largest batch the limits allow.
func (c *Collector) GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(c.cfg.limits.MaxBatchBytes + 1<<20),
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
	p, err := s.c.authenticate(ctx, credentialsFromMD(ctx))
	if err != nil {
		s.c.metrics.refused(ctx, "unauthenticated")
		return nil, toStatus(fmt.Errorf("%w: %v", ErrUnauthenticated, err))
	}
	return p, nil
}

func (s *grpcService) Collect(ctx context.Context, req *collectorv1.CollectRequest) (*collectorv1.CollectResponse, error) {
	p, err := s.principal(ctx)
	if err != nil {
		return nil, err
	}
	if err := unknownFields("CollectRequest", req.ProtoReflect()); err != nil {
		return nil, toStatus(err)
	}
	results, err := s.c.collect(ctx, p, req.GetEvents(), nil, false)
	if err != nil {
		return nil, toStatus(err)
	}
	return &collectorv1.CollectResponse{Results: results}, nil
}

// streamConcurrency bounds the batches of one stream processed at once.
const streamConcurrency = 8

func (s *grpcService) CollectStream(stream collectorv1.CollectorService_CollectStreamServer) error {
	ctx := stream.Context()
	p, err := s.principal(ctx)
	if err != nil {
		return err
	}
	type recv struct {
		req *collectorv1.CollectStreamRequest
		err error
	}
	// Recv blocks; it runs on its own and ends when the handler returns
	// (gRPC cancels the stream then).
	reqs := make(chan recv)
	go func() {
		for {
			req, err := stream.Recv()
			select {
			case reqs <- recv{req, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
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
		return stream.Send(resp)
	}
	for {
		var r recv
		select {
		case r = <-reqs:
		case <-gctx.Done():
			return g.Wait()
		}
		if errors.Is(r.err, io.EOF) {
			return g.Wait()
		}
		if r.err != nil {
			_ = g.Wait()
			return r.err
		}
		req := r.req
		if err := unknownFields("CollectStreamRequest", req.ProtoReflect()); err != nil {
			_ = g.Wait()
			return toStatus(err)
		}
		g.Go(func() error {
			results, err := s.c.collect(gctx, p, req.GetEvents(), nil, false)
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
