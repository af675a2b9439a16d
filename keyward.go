// Package keyward holds the domain of the keyward API-key service: the types
// (Key, Account, Project, Resource, AuditEvent), the rules that are pure
// functions of them (token format, permission queries, validation of scopes
// against a catalog, the PATCH and PUT rules, the verification decision), the
// Store contract that every storage backend implements, and the error codes
// shared by every layer.
//
// The package imports nothing of keyward's own. Orchestration (who may call
// what, transactions, audit events) lives in package service; storage lives
// in the packages named for their technology (sqlite, …); the HTTP API in
// package http.
package keyward

import "time"

// Clock returns the current time. Services take one so tests can move time.
type Clock func() time.Time

// SystemClock is the wall clock.
func SystemClock() time.Time { return time.Now() }

// Timestamp truncates t to the millisecond precision keyward stores, in UTC.
func Timestamp(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }
