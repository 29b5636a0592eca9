package awsproto

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// JSON11 is the content type of AWS JSON 1.1 requests and responses.
const JSON11 = "application/x-amz-json-1.1"

// Handler runs one operation: it decodes the request body with decode
// (into the operation's input struct) and returns the output to encode,
// or an error. An *Error reaches the client as is; any other error is an
// InternalFailure (HTTP 500), logged.
type Handler func(ctx context.Context, decode func(v any) error) (any, error)

// Handle adapts a typed operation to a Handler: it decodes the request
// into a fresh I, runs fn, and passes fn's error through mapErr (which
// turns the Go API's errors into the service's exceptions).
func Handle[I, O any](fn func(ctx context.Context, in *I) (O, error), mapErr func(error) error) Handler {
	return func(ctx context.Context, decode func(v any) error) (any, error) {
		in := new(I)
		if err := decode(in); err != nil {
			return nil, err
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, mapErr(err)
		}
		return out, nil
	}
}

// Service answers one AWS service's JSON 1.1 (and CBOR 1.1) operations.
type Service struct {
	// TargetPrefix is the X-Amz-Target prefix, e.g. "Kinesis_20131202".
	TargetPrefix string
	// Operations maps operation names to handlers.
	Operations map[string]Handler
	// Logger logs internal failures; nil: slog.Default().
	Logger *slog.Logger
}

// Handles reports whether r is addressed to s (its X-Amz-Target prefix).
func (s *Service) Handles(r *http.Request) bool {
	prefix, _, ok := strings.Cut(Target(r), ".")
	return ok && prefix == s.TargetPrefix
}

// ServeHTTP implements http.Handler for JSON 1.1 requests, and for CBOR
// 1.1 requests (Content-Type CBOR11), which get CBOR responses and errors.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		WriteErrorFor(w, r, Errorf(Serialization, "method %s is not supported: use POST", r.Method))
		return
	}
	target := Target(r)
	prefix, op, ok := strings.Cut(target, ".")
	if !ok || prefix != s.TargetPrefix {
		WriteErrorFor(w, r, Errorf(UnknownOperation, "X-Amz-Target %q names no operation of %s", target, s.TargetPrefix))
		return
	}
	h, ok := s.Operations[op]
	if !ok {
		WriteErrorFor(w, r, Errorf(UnknownOperation, "unknown operation %s", op))
		return
	}
	body, berr := readBody(r)
	if berr != nil {
		WriteErrorFor(w, r, berr)
		return
	}
	useCBOR := isCBOR(r)
	decode := func(v any) error {
		if useCBOR {
			if err := decodeCBOR(body, v); err != nil {
				return Errorf(Serialization, "%s: %v", op, err)
			}
			return nil
		}
		if len(bytes.TrimSpace(body)) == 0 {
			body = []byte("{}")
		}
		// Unmarshal decodes from body itself (a Decoder would copy it
		// into a buffer of its own) and refuses trailing data.
		if err := json.Unmarshal(body, v); err != nil {
			return Errorf(Serialization, "%s: %v", op, err)
		}
		return nil
	}
	out, err := h(r.Context(), decode)
	if err != nil {
		var ae *Error
		if !errors.As(err, &ae) {
			s.logger().Error("awsproto: internal failure", "operation", op, "err", err)
			ae = &Error{Status: http.StatusInternalServerError, Type: InternalFailure, Message: "internal failure"}
		}
		WriteErrorFor(w, r, ae)
		return
	}
	if out == nil {
		out = struct{}{}
	}
	contentType := JSON11
	var b []byte
	if useCBOR {
		contentType = CBOR11
		b, err = cborEnc.Marshal(out)
	} else {
		b, err = json.Marshal(out)
	}
	if err != nil {
		s.logger().Error("awsproto: encoding a response", "operation", op, "err", err)
		WriteErrorFor(w, r, &Error{Status: http.StatusInternalServerError, Type: InternalFailure, Message: "internal failure"})
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// WriteError writes e as an AWS JSON error response.
func WriteError(w http.ResponseWriter, e *Error) { writeError(w, e, JSON11, json.Marshal) }

// errorBody is an error response's document, in either protocol (the
// CBOR encoder honours json tags).
type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

// writeError writes e's status, headers and document, encoded by marshal.
func writeError(w http.ResponseWriter, e *Error, contentType string, marshal func(any) ([]byte, error)) {
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	b, _ := marshal(errorBody{e.Type, e.Message})
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-ErrorType", e.Type)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// String describes s for logs.
func (s *Service) String() string { return fmt.Sprintf("awsproto.Service(%s)", s.TargetPrefix) }
