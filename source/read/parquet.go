package read

import (
	"errors"
	"io"

	"github.com/parquet-go/parquet-go"

	sourcev1 "github.com/hemlabs/hem/gen/hem/source/v1"
)

// parquetParser reads a Parquet file's rows as maps, through range reads:
// the footer, then the pages of each row group.
type parquetParser struct {
	schema *parquet.Schema
	groups []parquet.RowGroup
	rows   parquet.Rows // the current row group's, nil between groups
	buf    []parquet.Row
	n      int64
}

func newParquet(ra io.ReaderAt, size int64, c *sourcev1.Parquet, lim Limits) (*parquetParser, error) {
	f, err := parquet.OpenFile(ra, size,
		parquet.SkipBloomFilters(true),
		parquet.ReadBufferSize(1<<20))
	if err != nil {
		var fe *FileError
		if errors.As(err, &fe) {
			return nil, fe
		}
		return nil, fileErr(err, "not a Parquet file")
	}
	var have []string
	for _, fld := range f.Schema().Fields() {
		have = append(have, fld.Name())
	}
	if missing := missingColumns(c.GetColumns(), have); missing != "" {
		return nil, fileErr(nil, "the Parquet schema lacks %s", missing)
	}
	return &parquetParser{schema: f.Schema(), groups: f.RowGroups(), buf: make([]parquet.Row, 1)}, nil
}

func (p *parquetParser) next() (Record, error) {
	for {
		if p.rows == nil {
			if len(p.groups) == 0 {
				return Record{}, io.EOF
			}
			p.rows = p.groups[0].Rows()
			p.groups = p.groups[1:]
		}
		n, err := p.rows.ReadRows(p.buf)
		if n == 1 {
			m := map[string]any{}
			if err := p.schema.Reconstruct(&m, p.buf[0]); err != nil {
				return Record{}, fileErr(err, "row %d of the Parquet file cannot be read", p.n+1)
			}
			p.n++
			return Record{Object: m, Line: p.n}, nil
		}
		if err == io.EOF {
			_ = p.rows.Close()
			p.rows = nil
			continue
		}
		var fe *FileError
		if errors.As(err, &fe) {
			return Record{}, fe
		}
		if err == nil {
			err = io.ErrNoProgress
		}
		return Record{}, fileErr(err, "row %d of the Parquet file cannot be read", p.n+1)
	}
}

func (p *parquetParser) Close() error {
	if p.rows != nil {
		return p.rows.Close()
	}
	return nil
}
