package cli

import (
	"context"
	"errors"
)

func collectorServeCommand() *Command {
	return &Command{
		Name:    "collector serve",
		Summary: "run the collector (gRPC and HTTP/JSON ingestion)",
		Run: func(context.Context, IO, []string) error {
			return errors.New("not implemented yet")
		},
	}
}
