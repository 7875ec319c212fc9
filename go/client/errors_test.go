package client

import (
	"errors"
	"testing"
)

// Every Code constant renders as its Connect name from the component's table, in gRPC order.
func TestCodesRenderAsTheComponentsConnectNames(t *testing.T) {
	want := []struct {
		code Code
		name string
	}{
		{CodeCanceled, "canceled"}, {CodeUnknown, "unknown"}, {CodeInvalidArgument, "invalid_argument"},
		{CodeDeadlineExceeded, "deadline_exceeded"}, {CodeNotFound, "not_found"},
		{CodeAlreadyExists, "already_exists"}, {CodePermissionDenied, "permission_denied"},
		{CodeResourceExhausted, "resource_exhausted"}, {CodeFailedPrecondition, "failed_precondition"},
		{CodeAborted, "aborted"}, {CodeOutOfRange, "out_of_range"}, {CodeUnimplemented, "unimplemented"},
		{CodeInternal, "internal"}, {CodeUnavailable, "unavailable"}, {CodeDataLoss, "data_loss"},
		{CodeUnauthenticated, "unauthenticated"},
	}
	names, err := codeNames()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != len(want) {
		t.Errorf("the component's table has %d codes, want %d", len(names), len(want))
	}
	for _, w := range want {
		if got := w.code.String(); got != w.name {
			t.Errorf("Code(%d).String() = %q, want %q", int(w.code), got, w.name)
		}
	}
	if got := Code(99).String(); got != "code 99" {
		t.Errorf("Code(99).String() = %q", got)
	}
}

// A validation failure reads as the Go client's, with the component's issue text.
func TestInvalidConfigErrorsUseTheComponentsIssueText(t *testing.T) {
	err := invalidConfig("validate config", []ValidationIssue{{Field: "cpu", Message: "missing"}, {Field: "boot", Message: "missing"}})
	if got, want := err.Error(), "validate config: invalid_argument: invalid VM config: cpu: missing; boot: missing"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if errors.Unwrap(err) != nil {
		t.Errorf("a described error has no cause, got %v", errors.Unwrap(err))
	}
}

// A bad server URL is refused by the component's parser, naming the field.
func TestABadServerAddressIsTheComponentsServerIssue(t *testing.T) {
	_, err := New(t.Context(), Config{ServerAddress: "http://h:0", UserID: "u", TenantID: "t", TLSMode: "disabled"})
	want := `metald client: Config.ServerAddress: parse server URL: invalid_argument: invalid VM config: server: "http://h:0" has port "0"; expected a number from 1 to 65535`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || len(e.Issues()) != 1 || e.Issues()[0].Field != "server" {
		t.Fatalf("got %#v, want one server issue", err)
	}
}
