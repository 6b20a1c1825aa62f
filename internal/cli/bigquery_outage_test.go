package cli_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/protobuf/proto"

	"github.com/hemlabs/hem/contract"
	"github.com/hemlabs/hem/envelope"
	"github.com/hemlabs/hem/internal/cli"
	"github.com/hemlabs/hem/registry"
	"github.com/hemlabs/hem/sink/bigquery/bigquerytest"
	"github.com/hemlabs/hem/sink/sinktest/sample"
)

// "hem processor run --sink bigquery" stops within 10 s of its signal while
// BigQuery is unreachable, acks nothing it did not write, and what it held
// comes back: a second processor writes it once BigQuery is back. A clean
// shutdown logs no error.
func TestProcessorStopsWhileBigQueryIsDown(t *testing.T) {
	ps := pstest.NewServer()
	t.Cleanup(func() { ps.Close() })
	if _, err := ps.GServer.CreateTopic(t.Context(), &pubsubpb.Topic{Name: "projects/p/topics/" + envelope.EventsTopic}); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.GServer.CreateSubscription(t.Context(), &pubsubpb.Subscription{Name: "projects/p/subscriptions/" + envelope.SubscriptionFor("bigquery"),
		Topic: "projects/p/topics/" + envelope.EventsTopic, AckDeadlineSeconds: 10}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PUBSUB_EMULATOR_HOST", ps.Addr)
	env := startRegistry(t)
	if out, errOut, code := run(t, env, "schema", "push", "../../proto"); code != 0 {
		t.Fatalf("push: %s %s", out, errOut)
	}
	reg, err := registry.Dial(t.Context(), env["HEM_REGISTRY"])
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	placed, err := reg.Latest(t.Context(), "shop.orders.v1.OrderPlaced")
	if err != nil {
		t.Fatal(err)
	}
	bq, err := bigquerytest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer bq.Close()
	rows := func() int {
		r, _ := bq.Rows("p", "hem_events", contract.TableName(placed.Descriptor()))
		return len(r)
	}

	client, err := pubsub.NewClient(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	pub := client.Publisher(envelope.EventsTopic)
	defer pub.Stop()
	g, _ := sample.NewGenerator(5, []string{placed.Subject}, 0)
	publish := func(from, n int) map[string]bool {
		ids := map[string]bool{}
		for i := from; i < from+n; i++ {
			data, _ := proto.Marshal(g.Next().Message)
			envl := envelope.Envelope{EventID: fmt.Sprint("outage-", i), Type: placed.Subject, SchemaID: placed.ID, EventTime: time.Now(), Producer: "cli-test"}
			id, err := pub.Publish(t.Context(), &pubsub.Message{Data: data, Attributes: envl.Encode()}).Get(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			ids[id] = true
		}
		return ids
	}
	messages := func(ids map[string]bool) []*pstest.Message {
		var out []*pstest.Message
		for _, m := range ps.Messages() {
			if ids[m.ID] {
				out = append(out, m)
			}
		}
		return out
	}
	waitFor := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(d)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	start := func() (stop func() (time.Duration, error), logs *syncBuffer) {
		penv := map[string]string{"HEM_REGISTRY": env["HEM_REGISTRY"], "HEM_DIR": env["HEM_DIR"], "HEM_PROJECT": "p",
			"HEM_LISTEN": freeAddr(t), "HEM_SINK": "bigquery", "HEM_BATCH_AGE": "100ms", "HEM_BIGQUERY_DATASET": "hem_events",
			"HEM_BIGQUERY_ENDPOINT": bq.RESTEndpoint(), "HEM_BIGQUERY_WRITE_ENDPOINT": bq.WriteEndpoint()}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		logs = &syncBuffer{}
		go func() {
			io := cli.IO{Stdin: strings.NewReader(""), Stdout: logs, Stderr: logs, Getenv: func(k string) string { return penv[k] }}
			done <- cli.Run(ctx, io, []string{"processor", "run"})
		}()
		return func() (time.Duration, error) {
			signalled := time.Now()
			cancel()
			select {
			case err := <-done:
				return time.Since(signalled), err
			case <-time.After(30 * time.Second):
				t.Fatalf("the processor had not stopped 30 s after its signal\n%s", logs.String())
				return 0, nil
			}
		}, logs
	}

	stop, logs := start()
	publish(0, 20)
	waitFor("20 rows in BigQuery", 20*time.Second, func() bool { return rows() == 20 })

	bq.SetReachable(false)
	held := publish(20, 20)
	waitFor("the processor to hold the new messages", 20*time.Second, func() bool {
		for _, m := range messages(held) {
			if m.Deliveries == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Second) // their batch is being written
	took, err := stop()
	if err != nil {
		t.Fatalf("processor run: %v\n%s", err, logs.String())
	}
	t.Logf("stopped %v after the signal", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Fatalf("the processor took %v to stop while BigQuery was unreachable\n%s", took, logs.String())
	}
	for _, m := range messages(held) {
		if m.Acks != 0 {
			t.Fatalf("message %s was acked though BigQuery never had it", m.ID)
		}
	}

	bq.SetReachable(true)
	stop, logs = start()
	waitFor("the held events after BigQuery came back", 60*time.Second, func() bool {
		for _, m := range messages(held) {
			if m.Acks == 0 {
				return false
			}
		}
		return true
	})
	if _, err := stop(); err != nil {
		t.Fatalf("processor run: %v\n%s", err, logs.String())
	}
	if got := rows(); got < 40 {
		t.Fatalf("BigQuery holds %d rows, want the 40 events", got)
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Fatalf("a clean shutdown logged an error:\n%s", logs.String())
	}
}
