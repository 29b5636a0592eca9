// Package aggregate will provide a generic repository over a user's
// aggregate type, built on package eventstore.
//
// Planned: load an aggregate (snapshot plus the events after it), handle a
// command, save the new events with the loaded version as the expected
// version, and retry on conflict when the command allows it; plus a
// given/when/then helper for one-line aggregate tests.
//
// Nothing is built here yet; the package holds only this comment.
package aggregate
