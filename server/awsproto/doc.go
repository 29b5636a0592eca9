// Package awsproto is the wire protocol shared by the AWS-compatible APIs
// `shoal serve` answers (Kinesis Data Streams now, Firehose later): the
// AWS JSON 1.1 RPC protocol (POST /, X-Amz-Target: <prefix>.<Operation>),
// AWS-style errors ({"__type": ..., "message": ...}), SigV4 verification
// and the event-stream framing of streaming responses. It knows nothing
// of any one service's operations; a service registers its operations in
// a Service.
package awsproto
