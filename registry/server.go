package registry

import (
	"context"
	"errors"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	registryv1 "github.com/hemlabs/hem/gen/hem/registry/v1"
)

// shutdownGrace is how long Serve waits for in-flight RPCs after ctx ends.
const shutdownGrace = 10 * time.Second

// Serve serves svc and gRPC health checking (grpc.health.v1, SERVING for ""
// and hem.registry.v1.RegistryService) on lis until ctx ends. Then it
// reports NOT_SERVING, ends Watch streams and stops gracefully, waiting up
// to 10s for in-flight calls. It returns nil after a clean shutdown.
func Serve(ctx context.Context, lis net.Listener, svc *Service, opts ...grpc.ServerOption) error {
	gs := grpc.NewServer(opts...)
	registryv1.RegisterRegistryServiceServer(gs, svc)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(registryv1.RegistryService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(gs, hs)

	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	hs.Shutdown()
	svc.Shutdown()
	stopped := make(chan struct{})
	go func() {
		gs.GracefulStop()
		close(stopped)
	}()
	t := time.NewTimer(shutdownGrace)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		gs.Stop()
		<-stopped
	}
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}
