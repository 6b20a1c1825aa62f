package devstack

import "database/sql"

// WarehouseDB is the warehouse's database, unsandboxed for writes, so a
// test can break what the processors write to.
func (s *Stack) WarehouseDB() *sql.DB { return s.sinks.warehouse.DB() }
