package wiring

import (
	"context"
	"fmt"

	monitoring "cloud.google.com/go/monitoring/apiv3/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hemlabs/hem/console"
)

// MonitoringConfig is where the console's Live page reads the pipeline's
// metrics in production: Cloud Monitoring (terraform grants the console
// monitoring.viewer).
type MonitoringConfig struct {
	// Project is the Cloud Monitoring project (scoping project) the
	// collector's and Pub/Sub's metrics are in. Empty: no Live page.
	Project string
	// Endpoint overrides the gRPC endpoint (tests): a plaintext host:port,
	// reached without credentials.
	Endpoint string
}

// openCloudMonitoring opens a Cloud Monitoring client for cfg and the
// console's Metrics over it; close the client.
func openCloudMonitoring(ctx context.Context, cfg MonitoringConfig) (*console.CloudMonitoring, *monitoring.MetricClient, error) {
	var opts []option.ClientOption
	if cfg.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(cfg.Endpoint), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	}
	c, err := monitoring.NewMetricClient(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("console: cloud monitoring: %w", err)
	}
	m, err := console.NewCloudMonitoring(c, cfg.Project, 0)
	if err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	return m, c, nil
}
