package cli

import (
	"context"
	"fmt"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
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
