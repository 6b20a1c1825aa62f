package devstack

import (
	"context"
	"fmt"
	"net/http"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// telemetry is the stack's metrics wiring, the one hem collector serve and
// hem processor run have: an OTel meter provider read by a Prometheus
// exporter of its own registry, served as /metrics.
type telemetry struct {
	provider *sdkmetric.MeterProvider
	handler  http.Handler
	gatherer promclient.Gatherer // the console's Live page reads it
}

func newTelemetry() (*telemetry, error) {
	reg := promclient.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("dev: metrics: %w", err)
	}
	return &telemetry{
		provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter)),
		handler:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		gatherer: reg,
	}, nil
}

func (t *telemetry) close(ctx context.Context) error { return t.provider.Shutdown(ctx) }
