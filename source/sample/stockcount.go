package sample

import (
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// stockCount is sources/stock-count.yaml: the stores' stock counts of one
// day, NDJSON in a zip with one entry stock-YYYY-MM-DD.ndjson. Record n
// counts article n/stores in store n%stores, so (article, store, time) — the
// declared key — never repeats within a file.
type stockCount struct{}

const stores = 40

// The rules an invalid count breaks, by kind.
const (
	badOnHand = iota
	badArticle
	badStore
)

func (stockCount) kinds() [][2]string {
	return [][2]string{
		badOnHand:  {"on_hand", "int64.gte"},
		badArticle: {"sku", "string.min_len"},
		badStore:   {"location_id", "string.min_len"},
	}
}

func (stockCount) entry(c *config) string {
	if c.uncompressed {
		return ""
	}
	return "stock-" + c.date.Format(time.DateOnly) + ".ndjson"
}

func (stockCount) header() []byte { return nil }

func (s stockCount) wrap(w io.Writer, c *config) (io.Writer, func() error, error) {
	return zipped(w, c, s.entry(c))
}

func (stockCount) record(b []byte, r *rand.Rand, c *config, n int64, invalid bool, kind int) []byte {
	b = append(b, `{"article":"`...)
	if !invalid || kind != badArticle {
		b = append(b, "SKU-"...)
		b = appendPadded(b, n/stores+1, 7)
	}
	b = append(b, `","store":"`...)
	if !invalid || kind != badStore {
		b = append(b, "S-"...)
		b = appendPadded(b, n%stores+1, 3)
	}
	qty := r.Int64N(500)
	change := r.Int64N(41) - 30
	if invalid && kind == badOnHand {
		qty = -1 - r.Int64N(20)
	}
	if c.revision > 0 && n%10 == 0 {
		// A correction; a negative count stays negative.
		if qty < 0 {
			qty -= int64(c.revision)
		} else {
			qty += int64(c.revision)
		}
	}
	b = append(b, `","qty":`...)
	b = strconv.AppendInt(b, qty, 10)
	b = append(b, `,"change":`...)
	b = strconv.AppendInt(b, change, 10)
	b = append(b, `,"counted":"`...)
	// Counted during the opening hours, 06:00 to 22:00.
	at := c.date.Add(6*time.Hour + time.Duration(r.Int64N(16*3600))*time.Second)
	b = at.AppendFormat(b, time.RFC3339)
	return append(b, "\"}\n"...)
}
