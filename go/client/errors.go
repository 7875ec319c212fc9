package client

import (
	"errors"
	"strings"

	"github.com/metald/metald-client/go/cabi"
	"github.com/metald/metald-client/go/metald"
)

// Code is a Connect error code. String gives the protocol's name (`not_found`).
type Code metald.ErrorCode

// Connect error codes (connectrpc.com/docs/protocol#error-codes).
const (
	CodeCanceled           = Code(metald.ErrorCodeCanceled)
	CodeUnknown            = Code(metald.ErrorCodeUnknown)
	CodeInvalidArgument    = Code(metald.ErrorCodeInvalidArgument)
	CodeDeadlineExceeded   = Code(metald.ErrorCodeDeadlineExceeded)
	CodeNotFound           = Code(metald.ErrorCodeNotFound)
	CodeAlreadyExists      = Code(metald.ErrorCodeAlreadyExists)
	CodePermissionDenied   = Code(metald.ErrorCodePermissionDenied)
	CodeResourceExhausted  = Code(metald.ErrorCodeResourceExhausted)
	CodeFailedPrecondition = Code(metald.ErrorCodeFailedPrecondition)
	CodeAborted            = Code(metald.ErrorCodeAborted)
	CodeOutOfRange         = Code(metald.ErrorCodeOutOfRange)
	CodeUnimplemented      = Code(metald.ErrorCodeUnimplemented)
	CodeInternal           = Code(metald.ErrorCodeInternal)
	CodeUnavailable        = Code(metald.ErrorCodeUnavailable)
	CodeDataLoss           = Code(metald.ErrorCodeDataLoss)
	CodeUnauthenticated    = Code(metald.ErrorCodeUnauthenticated)
)

// String returns the Connect name of the code: the WIT case name with `_` for `-`.
func (c Code) String() string { return strings.ReplaceAll(metald.ErrorCode(c).String(), "-", "_") }

// ErrorDetail is one entry of a Connect error's details.
type ErrorDetail = metald.ErrorDetail

// Error is every failure of this package: a Connect error from the server, a transport
// failure mapped to a Connect code, a config that failed validation (code
// invalid_argument, with Issues), or a failure of the component itself (code internal).
// Use errors.As to reach it.
type Error struct {
	op             string
	code           Code
	message        string
	details        []ErrorDetail
	httpStatus     int
	outcomeUnknown bool
	issues         []ValidationIssue
	cause          error
}

// Code is the Connect code.
func (e *Error) Code() Code { return e.code }

// Message is the server's (or the transport's) message.
func (e *Error) Message() string { return e.message }

// Details are the Connect error details the server sent.
func (e *Error) Details() []ErrorDetail { return e.details }

// HTTPStatus is the HTTP status of the server's answer, 0 when there was none.
func (e *Error) HTTPStatus() int { return e.httpStatus }

// OutcomeUnknown is true when a write may have reached the server: list VMs before
// creating again.
func (e *Error) OutcomeUnknown() bool { return e.outcomeUnknown }

// Issues lists every validation problem, each with its field path.
func (e *Error) Issues() []ValidationIssue { return e.issues }

// Error renders as the Go client does: `failed to get VM info: not_found: VM not found: …`.
func (e *Error) Error() string {
	s := e.code.String() + ": " + e.message
	if e.op != "" {
		s = e.op + ": " + s
	}
	return s
}

// Unwrap returns the underlying cause (a trap, a context error), if any.
func (e *Error) Unwrap() error { return e.cause }

func invalidConfig(op string, issues []ValidationIssue) *Error {
	parts := make([]string, len(issues))
	for i, is := range issues {
		parts[i] = is.Field + ": " + is.Message
	}
	return &Error{op: op, code: CodeInvalidArgument, message: "invalid VM config: " + strings.Join(parts, "; "), issues: issues}
}

// wrapErr turns the component's errors into *Error; op names the operation.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var sdk *cabi.ResultError[metald.Error]
	if errors.As(err, &sdk) {
		return fromWit(op, sdk.Value)
	}
	var issues *cabi.ResultError[[]metald.ValidationIssue]
	if errors.As(err, &issues) {
		return invalidConfig(op, issues.Value)
	}
	return &Error{op: op, code: CodeInternal, message: err.Error(), cause: err}
}

func fromWit(op string, e metald.Error) *Error {
	switch e.Tag {
	case metald.ErrorTagConnect:
		c := e.Connect
		return &Error{op: op, code: Code(c.Code), message: c.Message, details: c.Details, httpStatus: int(c.HttpStatus)}
	case metald.ErrorTagTransport:
		t := e.Transport
		return &Error{op: op, code: Code(t.Code), message: t.Message, outcomeUnknown: t.OutcomeUnknown}
	case metald.ErrorTagInvalidConfig:
		return invalidConfig(op, e.InvalidConfig)
	}
	return &Error{op: op, code: CodeUnknown, message: e.Other}
}
