package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/hemlabs/hem/auth"
	"github.com/hemlabs/hem/envelope"
	"github.com/hemlabs/hem/internal/devpubsub"
	"github.com/hemlabs/hem/internal/wiring"
)

// Bucket names of the local stack.
const (
	RegistryBucket = "hem-registry"
	ArchiveBucket  = "hem-archive"
	// ConsoleBucket holds the console's audit trail (audit/).
	ConsoleBucket = "hem-console"
)

// ArchiveDir is where the archive bucket's objects live under the stack's
// folder, for reading them with DuckDB (hem sql's read_parquet).
func ArchiveDir(dir string) string { return filepath.Join(dir, "gcs", ArchiveBucket) }

// devPrincipal is the name of the dev key's principal: the _producer of
// events sent with it and who pushed the contracts hem dev registers.
const devPrincipal = "dev"

// Project is the Pub/Sub project name of the local stack.
const Project = "hem-local"

// ackDeadlineSeconds matches the processors' batching: archive batches wait
// up to 30 s, and processors extend leases while they hold messages.
const ackDeadlineSeconds = 60

func startPubSub(dir, addr string, mp metric.MeterProvider) (*devpubsub.Server, error) {
	// The backlog bound keeps memory flat when producers outrun the
	// processors: publishing then waits (RESOURCE_EXHAUSTED, retried).
	// Publishes are answered once in the write-ahead log under <dir>/pubsub;
	// pubsub.state is the backlog an earlier hem dev saved, imported once.
	srv, err := devpubsub.New(
		devpubsub.WithDir(filepath.Join(dir, "pubsub")),
		devpubsub.WithImportStateFile(filepath.Join(dir, "pubsub.state")),
		devpubsub.WithMaxBacklogBytes(256<<20),
		// Backlog, oldest unacked age and dead-letter depth, on /metrics
		// and the console's Live page.
		devpubsub.WithMeterProvider(mp))
	if err != nil {
		return nil, err
	}
	if err := srv.Start(addr); err != nil {
		srv.Close()
		return nil, fmt.Errorf("pub/sub on %s: %w (is another hem dev running? use --pubsub-addr)", addr, err)
	}
	return srv, nil
}

// pubsubClient connects to the local Pub/Sub server the way production code
// connects to the real one, but without TLS or credentials.
func pubsubClient(ctx context.Context, project, addr string) (*pubsub.Client, error) {
	c, err := pubsub.NewClient(ctx, project,
		option.WithEndpoint(addr),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
		envelope.PublishCodec())
	if err != nil {
		return nil, fmt.Errorf("pub/sub client: %w", err)
	}
	return c, nil
}

// ensureTopology creates the topics and one subscription per sink, as
// terraform does in production. Existing ones are kept.
func ensureTopology(ctx context.Context, c *pubsub.Client, project string, sinks []string) error {
	for _, t := range []string{envelope.EventsTopic, envelope.FailedTopic, wiring.ObjectsTopic} {
		_, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topicName(project, t)})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("create topic %s: %w", t, err)
		}
	}
	// The file sources' object notifications, as terraform's.
	_, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name:               subscriptionName(project, wiring.ObjectsSubscription),
		Topic:              topicName(project, wiring.ObjectsTopic),
		AckDeadlineSeconds: ackDeadlineSeconds,
	})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("create subscription %s: %w", wiring.ObjectsSubscription, err)
	}
	for _, s := range sinks {
		topic := envelope.EventsTopic
		if s == "failed" {
			topic = envelope.FailedTopic
		}
		_, err := c.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
			Name:               subscriptionName(project, envelope.SubscriptionFor(s)),
			Topic:              topicName(project, topic),
			AckDeadlineSeconds: ackDeadlineSeconds,
		})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("create subscription for %s: %w", s, err)
		}
	}
	return nil
}

func topicName(project, t string) string        { return "projects/" + project + "/topics/" + t }
func subscriptionName(project, s string) string { return "projects/" + project + "/subscriptions/" + s }

// secret reads <dir>/<name>, creating it with generate() the first time, so the
// development key and the PII salt stay the same across restarts.
func secret(dir, name string, generate func() string) (string, error) {
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !os.IsNotExist(err) {
		return "", err
	}
	v := generate()
	if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		return "", err
	}
	return v, nil
}

func devKey(dir string) (string, error) { return secret(dir, "dev-key", auth.NewKey) }

func piiSalt(dir string) (string, error) {
	return secret(dir, "pii-salt", func() string {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	})
}
