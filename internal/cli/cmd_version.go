package cli

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set at build time with -ldflags "-X github.com/hemlabs/hem/internal/cli.Version=v1.2.3".
var Version = "dev"

func versionCommand() *Command {
	return &Command{
		Name:    "version",
		Summary: "print hem's version",
		Run: func(_ context.Context, io IO, _ []string) error {
			rev := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						rev = " " + s.Value
					}
				}
			}
			_, err := fmt.Fprintf(io.Stdout, "hem %s%s %s/%s %s\n", Version, rev, runtime.GOOS, runtime.GOARCH, runtime.Version())
			return err
		},
	}
}
