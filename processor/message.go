package processor

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/grpc"
)

// Message is one pulled Pub/Sub message.
type Message struct {
	AckID           string
	ID              string
	Data            []byte
	Attributes      map[string]string
	PublishTime     time.Time
	DeliveryAttempt int
}

func (m *Message) size() int64 {
	n := len(m.Data) + len(m.AckID) + len(m.ID)
	for k, v := range m.Attributes {
		n += len(k) + len(v)
	}
	return int64(n)
}

// Puller is the processor's view of a subscription, shaped like Pub/Sub's
// unary pull API. Its methods are called concurrently.
type Puller interface {
	// Pull returns up to max messages, waiting a bounded time for the
	// first one; it may return none. Each message is leased to the caller
	// for at least 10 s (Pub/Sub's shortest ack deadline).
	Pull(ctx context.Context, max int) ([]*Message, error)
	// Ack settles messages for good.
	Ack(ctx context.Context, ackIDs []string) error
	// ModifyAckDeadline makes the messages available again in seconds from
	// now: it extends leases, delays a redelivery, or with zero nacks.
	ModifyAckDeadline(ctx context.Context, ackIDs []string, seconds int) error
}

// SubscriptionPuller pulls a subscription with unary Pull calls
// (SubscriptionAdminClient.Pull, Acknowledge, ModifyAckDeadline). It is
// safe for concurrent use.
type SubscriptionPuller struct {
	client *pubsub.Client
	name   string
}

var _ Puller = (*SubscriptionPuller)(nil)

// NewSubscriptionPuller pulls projects/<project of client>/subscriptions/sub
// (sub may also be a full name).
func NewSubscriptionPuller(client *pubsub.Client, sub string) *SubscriptionPuller {
	name := sub
	if len(name) < 9 || name[:9] != "projects/" {
		name = fmt.Sprintf("projects/%s/subscriptions/%s", client.Project(), sub)
	}
	return &SubscriptionPuller{client: client, name: name}
}

// Pull implements Puller.
func (p *SubscriptionPuller) Pull(ctx context.Context, max int) ([]*Message, error) {
	resp, err := p.client.SubscriptionAdminClient.Pull(ctx, &pubsubpb.PullRequest{Subscription: p.name, MaxMessages: int32(max)},
		gax.WithGRPCOptions(grpc.ForceCodecV2(newPullCodec())))
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", p.name, err)
	}
	out, err := readPull(resp.ProtoReflect().GetUnknown())
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", p.name, err)
	}
	return out, nil
}

// maxIDsPerCall keeps acknowledge requests well under Pub/Sub's 512 KB limit.
const maxIDsPerCall = 1000

// Ack implements Puller.
func (p *SubscriptionPuller) Ack(ctx context.Context, ackIDs []string) error {
	for len(ackIDs) > 0 {
		n := min(len(ackIDs), maxIDsPerCall)
		if err := p.client.SubscriptionAdminClient.Acknowledge(ctx, &pubsubpb.AcknowledgeRequest{Subscription: p.name, AckIds: ackIDs[:n]}); err != nil {
			return fmt.Errorf("ack %s: %w", p.name, err)
		}
		ackIDs = ackIDs[n:]
	}
	return nil
}

// ModifyAckDeadline implements Puller.
func (p *SubscriptionPuller) ModifyAckDeadline(ctx context.Context, ackIDs []string, seconds int) error {
	for len(ackIDs) > 0 {
		n := min(len(ackIDs), maxIDsPerCall)
		err := p.client.SubscriptionAdminClient.ModifyAckDeadline(ctx, &pubsubpb.ModifyAckDeadlineRequest{
			Subscription: p.name, AckIds: ackIDs[:n], AckDeadlineSeconds: int32(seconds)})
		if err != nil {
			return fmt.Errorf("modify ack deadline %s: %w", p.name, err)
		}
		ackIDs = ackIDs[n:]
	}
	return nil
}
