package awsproto

import "fmt"

// Error is an error the client sees: an HTTP status and an AWS exception
// name (the body's "__type") with a message.
type Error struct {
	Status  int    // HTTP status; 400 for client errors
	Type    string // e.g. "ResourceNotFoundException"
	Message string
}

// Error implements error.
func (e *Error) Error() string { return e.Type + ": " + e.Message }

// Errorf returns a 400 *Error of the given exception type.
func Errorf(typ, format string, args ...any) *Error {
	return &Error{Status: 400, Type: typ, Message: fmt.Sprintf(format, args...)}
}

// The exception types the protocol itself returns.
const (
	// UnknownOperation: the X-Amz-Target names no operation.
	UnknownOperation = "UnknownOperationException"
	// Serialization: the body is not a valid request document.
	Serialization = "SerializationException"
	// InternalFailure: a server error (HTTP 500).
	InternalFailure = "InternalFailure"
	// MissingAuthenticationToken: the request carries no credentials.
	MissingAuthenticationToken = "MissingAuthenticationTokenException"
	// IncompleteSignature: the Authorization header is malformed.
	IncompleteSignature = "IncompleteSignatureException"
	// InvalidSignature: the signature does not match.
	InvalidSignature = "InvalidSignatureException"
	// UnrecognizedClient: the access key ID is unknown.
	UnrecognizedClient = "UnrecognizedClientException"
)
