// Package admission bounds what a server takes on at once, so that a burst
// of requests, large bodies or slow clients cannot exhaust its memory or
// hold its connections without end.
//
// A Controller admits a request only if it has a free slot (the requests
// in flight) and room in its byte budget (the bytes in flight). A request
// body is reserved from its Content-Length before a byte of it is read; a
// body without one (chunked) is reserved in pieces as it is read. A
// handler reserves what it is about to build, such as a large response,
// with Reserve. Whatever does not fit is refused at once with a
// throttling error (HTTP 400, an AWS exception the SDKs retry with
// backoff), never queued. Everything a request reserved is released when
// its handler returns, or earlier with Detach.
//
// The Controller also bounds the time a request body may take to arrive
// (WithBodyTimeout) and the least average rate at which it must arrive
// once a grace period has passed (WithMinBodyRate): a body still
// incomplete at the deadline, or that falls below the rate, is refused
// with RequestTimeout and, on HTTP/1, its connection is closed.
package admission
