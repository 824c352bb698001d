// Package dnsmsg is srvbridge's only user of github.com/miekg/dns, whose v1 line is
// frozen upstream. It builds reply templates off the query path and handles the
// unusual queries the raw fast path passes over. Its API speaks in srvbridge's own
// types, so the library behind it can be replaced in this one place.
package dnsmsg
