package kinesis

import (
	"strings"
	"unicode/utf8"

	"github.com/shoal-dev/shoal/server/awsproto"
)

// streamRef is how most operations address a stream: by StreamName, by
// StreamARN, or by both (then they must agree).
type streamRef struct {
	StreamName *string `json:"StreamName"`
	StreamARN  *string `json:"StreamARN"`
}

// name resolves the stream name the request addresses.
func (a *api) name(r streamRef) (string, error) {
	name, arn := optional(r.StreamName), optional(r.StreamARN)
	if arn == "" {
		if name == "" {
			return "", awsproto.Errorf(errInvalidArgument, "StreamName or StreamARN is required")
		}
		return name, nil
	}
	fromARN, err := a.streamNameFromARN("StreamARN", arn)
	if err != nil {
		return "", err
	}
	if name != "" && name != fromARN {
		return "", invalidArg("StreamARN", "%q names stream %q, not StreamName %q", arn, fromARN, name)
	}
	return fromARN, nil
}

// requireARN resolves a stream that the model addresses by ARN only
// (StreamName is accepted too, as a Shoal convenience).
func (a *api) requireARN(r streamRef) (string, error) {
	if optional(r.StreamARN) == "" && optional(r.StreamName) == "" {
		return "", missing("StreamARN")
	}
	return a.name(r)
}

// streamNameFromARN parses arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME.
// An ARN of another region or account names no stream of this log.
func (a *api) streamNameFromARN(field, arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] != "kinesis" {
		return "", invalidArg(field, "%q is not a stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)", truncate(arn, 256))
	}
	name, ok := strings.CutPrefix(parts[5], "stream/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", invalidArg(field, "%q is not a stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)", truncate(arn, 256))
	}
	if a.log.StreamARN(name) != "arn:"+parts[1]+":kinesis:"+parts[3]+":"+parts[4]+":stream/"+name {
		return "", awsproto.Errorf(errResourceNotFound, "Stream %s under account %s not found.", name, parts[4])
	}
	return name, nil
}

// truncate shortens s to n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) { // cut on a character boundary
		n--
	}
	return s[:n] + "…"
}
