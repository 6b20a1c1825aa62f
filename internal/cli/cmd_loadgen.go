package cli

import (
	"context"
	"errors"
)

func loadgenCommand() *Command {
	return &Command{
		Name:    "loadgen",
		Summary: "generate realistic events at a fixed rate and report throughput and latency",
		Run: func(context.Context, IO, []string) error {
			return errors.New("not implemented yet")
		},
	}
}
