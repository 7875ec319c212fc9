package client

import (
	"context"
	"errors"
	"fmt"
	"sync"

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

// codeNames is the component's table of Connect names (errors.codes), read once.
var codeNames = sync.OnceValues(func() (map[Code]string, error) {
	names := make(map[Code]string)
	err := offline.do(context.Background(), func(x metald.Exports) error {
		table, err := x.ErrorsCodes(context.Background())
		for _, info := range table {
			names[Code(info.Code)] = info.Name
		}
		return err
	})
	return names, err
})

// String returns the Connect name of the code (`not_found`), from the component's table.
func (c Code) String() string {
	names, err := codeNames()
	if name, ok := names[c]; ok {
		return name
	}
	if err != nil {
		return fmt.Sprintf("code %d (the component's code table did not load: %v)", int(c), err)
	}
	return fmt.Sprintf("code %d", int(c))
}

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
	text, err := describeIssues(issues)
	return &Error{op: op, code: CodeInvalidArgument, message: "invalid VM config: " + text, issues: issues, cause: err}
}

// describeIssues is the component's `field: message; …` (errors.describe-issues). When the
// component cannot run, the text says so and the error comes back too.
func describeIssues(issues []ValidationIssue) (string, error) {
	var text string
	err := offline.do(context.Background(), func(x metald.Exports) error {
		var err error
		text, err = x.ErrorsDescribeIssues(context.Background(), issues)
		return err
	})
	if err != nil {
		return fmt.Sprintf("%d issues (the component could not describe them: %v)", len(issues), err), fmt.Errorf("describing validation issues: %w", err)
	}
	return text, nil
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
