package cli

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/hemlabs/hem/envelope"
)

// devPubSub connects to the Pub/Sub server of a running hem dev.
func devPubSub(ctx context.Context, info *DevInfo) (*pubsub.Client, error) {
	c, err := pubsub.NewClient(ctx, info.Project,
		option.WithEndpoint(info.PubSub),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		envelope.PublishCodec())
	if err != nil {
		return nil, fmt.Errorf("pub/sub of hem dev: %w", err)
	}
	return c, nil
}

// dialCollector connects to a collector: host:port in plaintext, or
// https://HOST with TLS.
func dialCollector(_ context.Context, target string) (*grpc.ClientConn, error) {
	creds := grpc.WithTransportCredentials(insecure.NewCredentials())
	if host, ok := strings.CutPrefix(target, "https://"); ok {
		if !strings.Contains(host, ":") {
			host += ":443"
		}
		target = host
		creds = grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	conn, err := grpc.NewClient(target, creds)
	if err != nil {
		return nil, fmt.Errorf("collector %s: %w", target, err)
	}
	return conn, nil
}
