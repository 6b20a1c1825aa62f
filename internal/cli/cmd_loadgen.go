package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/hemlabs/hem/client"
	"github.com/hemlabs/hem/internal/gctune"
	"github.com/hemlabs/hem/internal/loadgen"
)

type loadgenConfig struct {
	clientFlags
	Rate         int
	Duration     time.Duration
	Types        string
	InvalidShare float64
	Seed         uint64
	Print        bool
	Count        int
	AcceptedIDs  string
	RejectedIDs  string
	BatchCount   int
	BatchDelay   time.Duration
	Attempts     int
}

func (c *loadgenConfig) bind(fs *flag.FlagSet) {
	c.clientFlags.bind(fs)
	c.bindCollector(fs)
	fs.IntVar(&c.Rate, "rate", 1000, "events per second")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long to send (0 = until Ctrl-C)")
	fs.StringVar(&c.Types, "types", "", "comma-separated subjects to generate (default: every sample type)")
	fs.Float64Var(&c.InvalidShare, "invalid", 0.02, "share of events (0..1) that break a contract rule on purpose")
	fs.Uint64Var(&c.Seed, "seed", uint64(time.Now().UnixNano()), "random seed; the same seed makes the same events")
	fs.BoolVar(&c.Print, "print", false, "print --count events as NDJSON envelopes (the input of \"hem emit -\") instead of sending")
	fs.IntVar(&c.Count, "count", 10, "with --print: how many events")
	fs.StringVar(&c.AcceptedIDs, "accepted-ids", "", "write the id of every accepted event to this file, one a line")
	fs.StringVar(&c.RejectedIDs, "rejected-ids", "", "write the id of every rejected event (each recorded as a failed event) to this file, one a line")
	fs.IntVar(&c.BatchCount, "batch-count", 500, "client batch size (events per Collect call)")
	fs.DurationVar(&c.BatchDelay, "batch-delay", 5*time.Millisecond, "client batch delay")
	fs.IntVar(&c.Attempts, "attempts", 10, "how often an event is sent at most before it counts as failed (retries back off from 100 ms to 10 s, keeping the event id)")
}

func loadgenCommand() *Command {
	var cfg loadgenConfig
	return &Command{
		Name:    "loadgen",
		Summary: "generate realistic events at a fixed rate and report throughput and latency",
		Help: `Sends events of every sample contract (orders, products, members, telemetry)
through the Go client to a collector, at --rate events per second for
--duration, with --invalid of them breaking a rule on purpose. It prints a
progress line a second and, at the end, sent/accepted/rejected counts,
throughput and latency p50/p99 (from Emit to the collector's answer, which
comes after Pub/Sub stored the event).

  hem loadgen --rate 5000 --duration 1m
  hem loadgen --print --count 3 | hem emit -`,
		Flags: cfg.bind,
		Run: func(ctx context.Context, io IO, _ []string) error {
			return runLoadgen(ctx, io, cfg)
		},
	}
}

func runLoadgen(ctx context.Context, io IO, cfg loadgenConfig) error {
	var subjects []string
	if cfg.Types != "" {
		subjects = strings.Split(cfg.Types, ",")
	}
	if cfg.Print {
		return loadgen.Print(io.Stdout, cfg.Count, subjects, cfg.InvalidShare, cfg.Seed)
	}
	if _, err := cfg.resolve(); err != nil {
		return err
	}
	// loadgen shares the machine with what it measures: collect its small
	// heap (events in flight) less often, as hem dev does (GOGC wins).
	gctune.Apply(gctune.Settings{Percent: 400})
	c, err := client.New(ctx, cfg.Collector,
		client.WithAPIKey(cfg.APIKey),
		client.WithBatchCount(cfg.BatchCount),
		client.WithBatchDelay(cfg.BatchDelay),
		client.WithMaxInflightBatches(64),
		client.WithRetry(cfg.Attempts, 100*time.Millisecond),
		// A collector that restarts (hem dev after a crash) is reconnected
		// to within a second, where gRPC's default backoff grows to two
		// minutes; retried batches then find it up.
		client.WithDialOptions(grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 5 * time.Second,
		})))
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	run := loadgen.Config{
		Rate: cfg.Rate, Duration: cfg.Duration, Subjects: subjects, InvalidShare: cfg.InvalidShare,
		Seed: cfg.Seed, Progress: io.Stderr,
	}
	if cfg.AcceptedIDs != "" {
		f, err := os.Create(cfg.AcceptedIDs)
		if err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
		defer f.Close()
		run.Accepted = f
	}
	if cfg.RejectedIDs != "" {
		f, err := os.Create(cfg.RejectedIDs)
		if err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
		defer f.Close()
		run.Rejected = f
	}
	fmt.Fprintf(io.Stderr, "loadgen: %d events/s to %s for %s (Ctrl-C stops sending and waits for answers)\n", cfg.Rate, cfg.Collector, cfg.Duration)
	rep, err := loadgen.Run(ctx, c, run)
	fmt.Fprintln(io.Stdout, rep)
	if err != nil {
		return err
	}
	if rep.Failed > 0 {
		return errors.New("loadgen: some events got no answer (collector unreachable or overloaded past the retries)")
	}
	return nil
}
