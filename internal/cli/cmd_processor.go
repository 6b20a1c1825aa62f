package cli

import (
	"context"
	"errors"
)

func processorRunCommand() *Command {
	return &Command{
		Name:    "processor run",
		Summary: "consume a subscription into a sink (bigquery, archive, duckdb, failed)",
		Run: func(context.Context, IO, []string) error {
			return errors.New("not implemented yet")
		},
	}
}
