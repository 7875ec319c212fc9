package tlsmode

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": Spiffe, "spiffe": Spiffe, "file": File, "disabled": Disabled} {
		got, err := ParseMode(in)
		if err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"tls", "SPIFFE", "none", " file"} {
		_, err := ParseMode(in)
		if err == nil {
			t.Errorf("ParseMode(%q) accepted", in)
			continue
		}
		for _, want := range []string{in, "spiffe", "file", "disabled"} {
			if !contains(err.Error(), want) {
				t.Errorf("ParseMode(%q): error %q does not mention %q", in, err, want)
			}
		}
	}
	if _, err := New(context.Background(), Options{Mode: "bogus"}); err == nil || !contains(err.Error(), "bogus") {
		t.Errorf("New with mode bogus: %v", err)
	}
}

func TestSocketSetting(t *testing.T) {
	t.Setenv(EnvMetaldSPIFFESocket, "")
	t.Setenv(EnvSPIFFEEndpointSocket, "")
	if got := socketSetting(Options{}); got != DefaultSPIFFESocket {
		t.Errorf("default: %q", got)
	}
	t.Setenv(EnvSPIFFEEndpointSocket, "unix:///run/spiffe.sock")
	if got := socketSetting(Options{}); got != "unix:///run/spiffe.sock" {
		t.Errorf("SPIFFE_ENDPOINT_SOCKET: %q", got)
	}
	t.Setenv(EnvMetaldSPIFFESocket, "/run/metald.sock")
	if got := socketSetting(Options{}); got != "/run/metald.sock" {
		t.Errorf("UNKEY_METALD_SPIFFE_SOCKET: %q", got)
	}
	if got := socketSetting(Options{SPIFFESocketPath: "/x.sock"}); got != "/x.sock" {
		t.Errorf("option: %q", got)
	}
}

func TestWorkloadEndpoint(t *testing.T) {
	rel, _ := filepath.Abs("rel.sock")
	for _, c := range []struct{ in, addr, path string }{
		{"/run/spire.sock", "unix:///run/spire.sock", "/run/spire.sock"},
		{"unix:/run/spire.sock", "unix:///run/spire.sock", "/run/spire.sock"},
		{"unix:///run/spire.sock", "unix:///run/spire.sock", "/run/spire.sock"},
		{"rel.sock", "unix://" + rel, rel},
		{"tcp://127.0.0.1:8081", "tcp://127.0.0.1:8081", ""},
	} {
		addr, path, err := workloadEndpoint(c.in)
		if err != nil || addr != c.addr || path != c.path {
			t.Errorf("workloadEndpoint(%q) = %q, %q, %v; want %q, %q", c.in, addr, path, err, c.addr, c.path)
		}
	}
	for _, bad := range []string{"unix:", "unix://", "tcp://localhost:1", "tcp://127.0.0.1"} {
		if _, _, err := workloadEndpoint(bad); err == nil {
			t.Errorf("workloadEndpoint(%q) accepted", bad)
		}
	}
}
