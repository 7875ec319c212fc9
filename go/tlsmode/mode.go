package tlsmode

import (
	"fmt"
	"strings"
)

// Mode selects how connections to metald are authenticated.
type Mode string

// The TLS modes, as metald-cli names them (its -tls-mode flag and UNKEY_METALD_TLS_MODE).
const (
	// Spiffe presents the X.509-SVID that the SPIFFE Workload API issues to this workload
	// and authorizes the server by SPIFFE ID. It is the default.
	Spiffe Mode = "spiffe"
	// File presents a client certificate and key read from PEM files and verifies the
	// server against a CA file (or the system roots).
	File Mode = "file"
	// Disabled presents no client certificate: http:// servers are reached in plain text,
	// https:// servers with ordinary server authentication.
	Disabled Mode = "disabled"
)

// modes lists the valid modes, the default first.
var modes = []Mode{Spiffe, File, Disabled}

// ParseMode parses a mode name. The empty string is the default, Spiffe; anything other
// than "spiffe", "file" or "disabled" is an error naming the value and the valid ones.
func ParseMode(s string) (Mode, error) {
	if s == "" {
		return Spiffe, nil
	}
	for _, m := range modes {
		if s == string(m) {
			return m, nil
		}
	}
	names := make([]string, len(modes))
	for i, m := range modes {
		names[i] = string(m)
	}
	return "", fmt.Errorf("tlsmode: unknown TLS mode %q (valid: %s)", s, strings.Join(names, ", "))
}

// String returns the mode's name.
func (m Mode) String() string { return string(m) }
