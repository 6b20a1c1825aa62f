// Package wiring builds hem's services from typed configurations, once: the
// production commands (hem registry serve, hem collector serve, hem
// processor run) and the local stack (hem dev) call the same constructors
// with the same defaults, and differ only in endpoints and in the few
// settings the local stack overrides on purpose (see devstack).
//
// Sinks are opened by name through one table, Sinks: adding a sink is its
// package, one row here and its conformance test.
package wiring
