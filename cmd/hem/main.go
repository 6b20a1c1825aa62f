// Command hem is the event pipeline's one binary: registry, collector,
// processors, the local stack and the tools around them. Run "hem --help".
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hemlabs/hem/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := realMain(ctx)
	stop()
	if err != nil {
		if code, ok := cli.ExitCode(err); ok {
			os.Exit(code)
		}
		fmt.Fprintln(os.Stderr, "hem:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context) error {
	return cli.Run(ctx, cli.StdIO(), os.Args[1:])
}
