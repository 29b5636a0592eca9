// Package postgres is a shardlog.SharedEngine on PostgreSQL: many Logs, in
// many processes, open one log.
package postgres
