// Package kinesis answers the Kinesis Data Streams wire API (AWS JSON 1.1,
// X-Amz-Target "Kinesis_20131202.<Operation>") over a shardlog.Log, so
// that the AWS SDKs, the KCL and the Kinesis CLI talk to `shoal serve` as
// they would to Kinesis.
//
// New returns an awsproto.Service whose operations decode the request,
// resolve the stream (by StreamName or StreamARN), call the Log and encode
// the result with the member names of the AWS model. Errors of the Log
// become the Kinesis exceptions they stand for (see errors.go); a request
// that does not fit the model is a SerializationException (wrong JSON) or a
// ValidationException (a missing required member), never a server error.
package kinesis
