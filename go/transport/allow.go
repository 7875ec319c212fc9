package transport

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/metald/metald-client/go/metald"
)

// Origin is one allowed destination: scheme, host and port.
type Origin struct {
	// Scheme is "http" or "https"; empty allows both.
	Scheme string
	// Host is a lower-case host name or IP address (IPv6 without brackets).
	Host string
	// Port is the port; 0 means the scheme's default (80 for http, 443 for https).
	Port uint16
}

// The problems an allow-list entry can have; the error message of ParseOrigin ends with
// one of them, as the Rust and JS hosts' do (testdata/allow-list.json).
const (
	problemScheme = "the scheme must be http or https"
	problemShape  = "expected scheme://host:port, host:port or host; paths and wildcards are not allowed"
	problemPort   = "the port must be a number 1-65535"
	problemEmpty  = "the host and port must not be empty or zero"
)

// ParseOrigin parses an allow-list entry: "scheme://host[:port]" with scheme http or
// https, or "host[:port]" or "host" for either scheme. Paths, queries, user info and
// wildcards are refused, as are port 0 and a port above 65535; the rules and messages
// are the Rust host's (host/src/transport/allow.rs), checked against
// testdata/allow-list.json.
func ParseOrigin(entry string) (Origin, error) {
	bad := func(problem string) (Origin, error) {
		return Origin{}, fmt.Errorf("invalid allow-list entry %q: %s", entry, problem)
	}
	var o Origin
	rest := entry
	if scheme, after, ok := strings.Cut(entry, "://"); ok {
		if scheme != "http" && scheme != "https" {
			return bad(problemScheme)
		}
		o.Scheme, rest = scheme, after
	}
	rest = strings.TrimSuffix(rest, "/")
	if rest == "" || strings.ContainsAny(rest, "/?#@*") {
		return bad(problemShape)
	}
	host := rest
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i+1:], "]") {
		host = rest[:i]
		n, err := strconv.ParseUint(rest[i+1:], 10, 16)
		if err != nil {
			return bad(problemPort)
		}
		if n == 0 {
			return bad(problemEmpty)
		}
		o.Port = uint16(n)
	}
	if host == "" {
		return bad(problemEmpty)
	}
	if strings.HasPrefix(host, "[") {
		inner, ok := strings.CutSuffix(host[1:], "]")
		if !ok || !strings.Contains(inner, ":") || net.ParseIP(inner) == nil {
			return bad(problemShape)
		}
		host = inner
	} else if !validRegName(host) {
		return bad(problemShape)
	}
	o.Host = strings.ToLower(host)
	return o, nil
}

// ServerOrigin is the allow-list entry of a server URL as the component parsed it
// (metald.Exports.EndpointParseServerUrl, the parser the component's client uses): its
// scheme, host and port. The path prefix is not part of it: the component keeps it in
// every request's path.
func ServerOrigin(u metald.ServerUrl) Origin {
	return Origin{
		Scheme: u.Scheme.String(),
		Host:   strings.TrimSuffix(strings.TrimPrefix(u.Host, "["), "]"),
		Port:   u.Port,
	}
}

// String formats the origin as ParseOrigin reads it.
func (o Origin) String() string {
	var b strings.Builder
	if o.Scheme != "" {
		b.WriteString(o.Scheme + "://")
	}
	if strings.Contains(o.Host, ":") {
		b.WriteString("[" + o.Host + "]")
	} else {
		b.WriteString(o.Host)
	}
	if o.Port != 0 {
		b.WriteString(":" + strconv.Itoa(int(o.Port)))
	}
	return b.String()
}

func defaultPort(scheme string) uint16 {
	if scheme == "https" {
		return 443
	}
	return 80
}

// matches reports whether a request to scheme://host:port is allowed by o.
func (o Origin) matches(scheme, host string, port uint16) bool {
	if o.Scheme != "" && o.Scheme != scheme {
		return false
	}
	want := o.Port
	if want == 0 {
		want = defaultPort(scheme)
	}
	return o.Host == host && want == port
}

// allowList is the parsed Config.AllowList: deny by default.
type allowList []Origin

// allows reports whether a request to scheme://authority may go out.
func (l allowList) allows(scheme, authority string) bool {
	scheme = strings.ToLower(scheme)
	if scheme != "http" && scheme != "https" {
		return false
	}
	host, portText, ok := splitAuthority(authority)
	if !ok || host == "" || strings.Contains(authority, "@") {
		return false
	}
	port := defaultPort(scheme)
	if portText != "" {
		n, err := strconv.ParseUint(portText, 10, 16)
		if err != nil || n == 0 {
			return false
		}
		port = uint16(n)
	}
	host = strings.ToLower(host)
	for _, o := range l {
		if o.matches(scheme, host, port) {
			return true
		}
	}
	return false
}

// splitAuthority splits "host", "host:port", "[v6]" or "[v6]:port". The host comes
// back without brackets; ok is false for a malformed authority.
func splitAuthority(a string) (host, port string, ok bool) {
	if strings.HasPrefix(a, "[") {
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return "", "", false
		}
		host, rest := a[1:end], a[end+1:]
		if addr, _, _ := strings.Cut(host, "%"); net.ParseIP(addr) == nil || !strings.Contains(addr, ":") {
			return "", "", false
		}
		switch {
		case rest == "":
			return host, "", host != ""
		case strings.HasPrefix(rest, ":") && len(rest) > 1:
			return host, rest[1:], host != ""
		}
		return "", "", false
	}
	host, port, hasPort := strings.Cut(a, ":")
	if hasPort && (port == "" || strings.Contains(port, ":")) {
		return "", "", false
	}
	if !validRegName(host) {
		return "", "", false
	}
	return host, port, true
}

// validRegName reports whether host is a host name or IPv4 address: letters, digits and
// "-._~%" only.
func validRegName(host string) bool {
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~%", c) >= 0:
		default:
			return false
		}
	}
	return true
}
