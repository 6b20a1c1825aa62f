package cli_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
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
	"github.com/hemlabs/hem/sink/duckdb"
	"github.com/hemlabs/hem/sink/sinktest/sample"
)

// TestProcessorRunIntoTheWarehouse runs "hem processor run --sink duckdb
// --pull-mode streaming" against pstest and a registry holding the sample
// contracts, then "--sink failed" (unary pull) on what it could not decode.
func TestProcessorRunIntoTheWarehouse(t *testing.T) {
	ps := pstest.NewServer()
	t.Cleanup(func() { ps.Close() })
	for _, topic := range []string{envelope.EventsTopic, envelope.FailedTopic} {
		if _, err := ps.GServer.CreateTopic(t.Context(), &pubsubpb.Topic{Name: "projects/p/topics/" + topic}); err != nil {
			t.Fatal(err)
		}
	}
	for sub, topic := range map[string]string{envelope.SubscriptionFor("duckdb"): envelope.EventsTopic, envelope.SubscriptionFor("bigquery"): envelope.EventsTopic,
		envelope.SubscriptionFor("failed"): envelope.FailedTopic} {
		if _, err := ps.GServer.CreateSubscription(t.Context(), &pubsubpb.Subscription{
			Name: "projects/p/subscriptions/" + sub, Topic: "projects/p/topics/" + topic, AckDeadlineSeconds: 10}); err != nil {
			t.Fatal(err)
		}
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

	client, err := pubsub.NewClient(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	pub := client.Publisher(envelope.EventsTopic)
	g, _ := sample.NewGenerator(3, []string{placed.Subject}, 0)
	const n = 20
	for i := range n + 1 {
		data, _ := proto.Marshal(g.Next().Message)
		if i == n {
			data = []byte{0xff, 0xff} // not an OrderPlaced
		}
		envl := envelope.Envelope{EventID: fmt.Sprint("cli-", i), Type: placed.Subject, SchemaID: placed.ID, EventTime: time.Now(), Producer: "cli-test"}
		if _, err := pub.Publish(t.Context(), &pubsub.Message{Data: data, Attributes: envl.Encode()}).Get(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	pub.Stop()

	warehouse := filepath.Join(t.TempDir(), "w.duckdb")
	runProcessor := func(sinkName, pullMode string, extra map[string]string, settled func() bool) {
		t.Helper()
		addr := freeAddr(t)
		penv := map[string]string{"HEM_REGISTRY": env["HEM_REGISTRY"], "HEM_DIR": env["HEM_DIR"], "HEM_PROJECT": "p",
			"HEM_LISTEN": addr, "HEM_SINK": sinkName, "HEM_WAREHOUSE": warehouse, "HEM_BATCH_AGE": "100ms", "HEM_PULL_MODE": pullMode}
		maps.Copy(penv, extra)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		var logs syncBuffer
		go func() {
			io := cli.IO{Stdin: strings.NewReader(""), Stdout: &logs, Stderr: &logs, Getenv: func(k string) string { return penv[k] }}
			done <- cli.Run(ctx, io, []string{"processor", "run"})
		}()
		deadline := time.Now().Add(20 * time.Second)
		for !settled() || !ready(addr) {
			if time.Now().After(deadline) {
				t.Fatalf("processor %s: not settled or not ready\n%s", sinkName, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		metrics := get(t, "http://"+addr+"/metrics")
		if !strings.Contains(metrics, `processor="`+envelope.SubscriptionFor(sinkName)+`"`) || !strings.Contains(metrics, `outcome="acked"`) {
			t.Fatalf("/metrics lacks the processor's counters:\n%s", metrics)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("processor %s: %v\n%s", sinkName, err, logs.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("processor %s did not stop", sinkName)
		}
		if !strings.Contains(logs.String(), `"msg":"processor stopped"`) {
			t.Fatalf("no final stats in the log:\n%s", logs.String())
		}
	}
	// acked: want messages of topic acked by acks subscriptions each.
	acked := func(topic string, want, acks int) func() bool {
		return func() bool {
			n := 0
			for _, m := range ps.Messages() {
				if m.Topic == "projects/p/topics/"+topic && m.Acks == acks {
					n++
				}
			}
			return n == want
		}
	}
	runProcessor("duckdb", "streaming", nil, acked(envelope.EventsTopic, n+1, 1))
	runProcessor("failed", "unary", nil, acked(envelope.FailedTopic, 1, 1))

	// The same events into BigQuery (a BigQuery-API-compatible server).
	bq, err := bigquerytest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer bq.Close()
	runProcessor("bigquery", "unary", map[string]string{"HEM_BIGQUERY_DATASET": "hem_events",
		"HEM_BIGQUERY_ENDPOINT": bq.RESTEndpoint(), "HEM_BIGQUERY_WRITE_ENDPOINT": bq.WriteEndpoint()},
		acked(envelope.EventsTopic, n+1, 2))
	if rows, err := bq.Rows("p", "hem_events", contract.TableName(placed.Descriptor())); err != nil || len(rows) != n {
		t.Fatalf("BigQuery holds %d rows (%v), want %d", len(rows), err, n)
	}

	w, err := duckdb.Open(t.Context(), warehouse)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(t.Context())
	for table, want := range map[string]string{contract.TableName(placed.Descriptor()): fmt.Sprint(n), "_failed_events": "1"} {
		res, err := w.Query(t.Context(), "SELECT count(*) FROM "+table)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(res.Rows[0][0]); got != want {
			t.Fatalf("%s holds %s rows, want %s", table, got, want)
		}
	}
}

func ready(addr string) bool {
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestProcessorRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HEM_DIR": t.TempDir()}
	for _, c := range []struct{ args, want string }{
		{"", "--sink is required"},
		{"--sink kafka", `--sink "kafka"`},
		{"--sink duckdb --pull-mode push", `--pull-mode "push"`},
		{"--sink bigquery --project p", "--sink bigquery needs --bigquery-dataset"},
		{"--sink bigquery --project p --bigquery-dataset d --bigquery-max-request-bytes 100", "--bigquery-max-request-bytes 100"},
		{"--sink bigquery --project p --bigquery-dataset d --bigquery-multiplex=maybe", "bigquery-multiplex"},
	} {
		_, errOut, code := run(t, env, append([]string{"processor", "run"}, strings.Fields(c.args)...)...)
		if code == 0 || !strings.Contains(errOut, c.want) {
			t.Fatalf("processor run %s: exit %d, %q; want an error about %s", c.args, code, errOut, c.want)
		}
	}
}
