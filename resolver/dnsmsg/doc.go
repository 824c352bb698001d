// Package dnsmsg is srvbridge's only user of github.com/miekg/dns, whose v1 line is
// frozen upstream. It packs replies with many records: the answer templates built
// when Consul data changes (SRV and address answers with their glue, the apex NS),
// and the rare replies packed per query (TXT, PTR, the NS name's addresses).
// Pack holds the truncation rules. It never reads a query, and replies without
// records of their own (errors, NXDOMAIN and NODATA with the zone's SOA) are built
// byte by byte from resolver/wire. Its API speaks in srvbridge's own types, so the
// library behind it can be replaced in this one place.
package dnsmsg
