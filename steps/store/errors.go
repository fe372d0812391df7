package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"
)

// MySQL and MariaDB error numbers this package tells apart.
const (
	errLockWaitTimeout = 1205
	errDeadlock        = 1213
)

// transientCodes are server errors that say nothing about the data: the same statement may succeed later.
var transientCodes = map[uint16]string{
	1040: "too many connections",
	1053: "server shutdown in progress",
	1152: "connection aborted",
	1158: "network read error",
	1159: "network read timeout",
	1160: "network write error",
	1161: "network write timeout",
	1205: "lock wait timeout",
	1213: "deadlock",
	1290: "server is read-only (failover?)",
	1317: "query interrupted",
	1792: "read-only transaction",
	1836: "server is read-only (failover?)",
	1927: "connection killed",           // MariaDB
	1969: "statement timeout",           // MariaDB max_statement_time
	2002: "cannot connect",              // client codes, seen through proxies
	2003: "cannot connect",              //
	2006: "server has gone away",        //
	2013: "lost connection",             //
	3024: "statement timeout",           // MySQL max_execution_time
	4031: "disconnected for inactivity", // MySQL 8.0.24+
}

// Temporary reports whether err is worth retrying: the network, the server or a lock failed, not the data
// or the configuration. Errors of the server about the data (1406 data too long, 1366 bad value, …), the
// schema (1146 no such table) or the login (1045) are not.
func Temporary(err error) bool {
	if err == nil {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		_, ok := transientCodes[me.Number]
		return ok
	}
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, mysql.ErrInvalidConn),
		errors.Is(err, mysql.ErrPktSync), errors.Is(err, mysql.ErrPktSyncMul),
		errors.Is(err, mysql.ErrBusyBuffer), errors.Is(err, mysql.ErrMalformPkt),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ETIMEDOUT),
		errors.Is(err, context.DeadlineExceeded):
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// environmentCodes are server errors about the database's setup, not about a row: every write fails the
// same way until someone fixes the grants, the database or the schema.
var environmentCodes = map[uint16]string{
	1044: "access denied to the database",
	1045: "access denied (user or password)",
	1049: "unknown database",
	1054: "unknown column (schema missing or old)",
	1142: "command denied (missing privilege)",
	1143: "column access denied",
	1146: "no such table (schema missing)",
	1227: "access denied (missing privilege)",
	1370: "execute command denied",
	1698: "access denied (user)",
	// Every write meets these too until someone frees space or lifts the limit (MariaDB error reference,
	// mariadb.com/kb/en/mariadb-error-code-reference): the recording is not at fault.
	1021: "disk full on the database server",
	1114: "table is full",
	1226: "user resource limit reached (max_questions/max_updates)",
	1290: "server running with --read-only (or another option that forbids writes)",
	1792: "read-only transaction",
	1836: "server in read-only mode",
}

// Environment reports whether err is about the database's setup rather than the recording being written:
// a login or privilege refused, a missing database or table, a schema of another shape (*SchemaError).
func Environment(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		_, ok := environmentCodes[me.Number]
		return ok
	}
	var se *SchemaError
	return errors.As(err, &se)
}

// isLockConflict reports a deadlock or lock wait timeout: the transaction lost a race and may simply run
// again at once.
func isLockConflict(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == errDeadlock || me.Number == errLockWaitTimeout)
}

// ValueError is a write the server refused because of a value: it names the table, the column, the
// value (shortened) and the server's error. Retrying cannot help.
type ValueError struct {
	Table  string
	Column string
	Value  string // shortened for messages
	Err    error
}

func (e *ValueError) Error() string {
	col := e.Table + "." + e.Column
	if e.Column == "" {
		col = e.Table
	}
	return fmt.Sprintf("%s = %s: %v", col, e.Value, e.Err)
}

func (e *ValueError) Unwrap() error { return e.Err }

// valueErrorCodes are server errors about one value of a row.
var valueErrorCodes = map[uint16]bool{
	1048: true, // column cannot be null
	1264: true, // out of range
	1265: true, // data truncated
	1292: true, // incorrect datetime / truncated value
	1366: true, // incorrect string/integer value (bad UTF-8, …)
	1406: true, // data too long
	3140: true, // invalid JSON (MySQL)
	3819: true, // check constraint violated (MySQL)
	4025: true, // CONSTRAINT failed (MariaDB, incl. JSON_VALID)
}

// Both servers name the column in several styles: column 'summary', column `db`.`t`.`summary`,
// Column 'x' cannot be null, CONSTRAINT `recordings.files` failed, value for column 'recordings.files'.
var columnRE = regexp.MustCompile("(?i)\\b(?:column|constraint)\\s+((?:[`'\"][^`'\"]*[`'\"]\\.?)+)")

// columnOf finds the column a server message is about, or "".
func columnOf(msg string) string {
	m := columnRE.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	name := strings.Trim(m[1], "`'\".")
	if i := strings.LastIndexAny(name, "`'\"."); i >= 0 {
		name = name[i+1:]
	}
	return name
}

// valueError turns a server error about a value into a *ValueError naming the column and its value, as
// found by value(column). Other errors are returned unchanged.
func valueError(err error, table string, value func(column string) any) error {
	var me *mysql.MySQLError
	if !errors.As(err, &me) || !valueErrorCodes[me.Number] {
		return err
	}
	col := columnOf(me.Message)
	return &ValueError{Table: table, Column: col, Value: shorten(value(col)), Err: err}
}

// shorten renders a value for an error message: quoted, at most 60 runes, with the full size when cut.
func shorten(v any) string {
	var s string
	switch v := v.(type) {
	case nil:
		return "NULL"
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		return fmt.Sprint(v)
	}
	const max = 60
	if utf8.RuneCountInString(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	r := []rune(s)
	return fmt.Sprintf("%q… (%d bytes)", string(r[:max]), len(s))
}

// NoSchema reports whether err says that the meetpipe tables or columns are missing (1146 no such
// table, 1054 unknown column): the database was never migrated, or not to this version.
func NoSchema(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1146 || me.Number == 1054)
}
