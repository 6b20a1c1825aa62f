package read_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hemlabs/hem/source/read"
)

// catalogueRows is a product catalogue export of n rows and 10 columns, as a
// supplier sends it (about 150 bytes a row).
func catalogueRows(n int) string {
	var sb strings.Builder
	sb.WriteString("product_id,sku,product_name,brand,category,price_eur,currency,stock,updated_on,description\n")
	for i := range n {
		fmt.Fprintf(&sb, "%d,SKU-%07d,\"Steel anvil, %d kg\",Acme,tools/hand,%d.%02d,EUR,%d,2026-12-%02d,\"Forged, heat-treated; model %d\"\n",
			100000+i, i, i%50, i%997, i%100, i%1000, 1+i%28, i)
	}
	return sb.String()
}

// cpuTime is the CPU time the process used so far (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkReadCSV(b *testing.B) {
	const rows = 100000
	data := catalogueRows(rows)
	for _, bc := range []struct {
		name string
		obj  []byte
		src  *sourceT
	}{
		{"plain", []byte(data), csvSrc("sku", "price_eur")},
		{"gzip", gz(b, data), withGzip(csvSrc("sku", "price_eur"))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			obj := memObject{"catalogue.csv", bc.obj}
			ctx := context.Background()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			n := 0
			cpu0 := cpuTime()
			for b.Loop() {
				r, err := read.Open(ctx, obj, bc.src, read.Limits{})
				if err != nil {
					b.Fatal(err)
				}
				for {
					_, err := r.Next(ctx)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				_ = r.Close()
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
			// The machine is shared: records per second of this process's
			// CPU time is the figure that holds under load.
			b.ReportMetric(float64(n)/(cpuTime()-cpu0).Seconds(), "records/cpu-s")
		})
	}
}
