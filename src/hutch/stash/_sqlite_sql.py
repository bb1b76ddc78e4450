"""The statements a :class:`~hutch.SqliteStash` runs, one per constant.

``{table}`` stands for the stash's table; the stash fills it in (quoted)
once, after checking that the name is a plain identifier.  The row of a
large value holds the name of its side file, as text; the first large value
adds an orphans table and two triggers that fill it (``SQL_ORPHANS``,
``SQL_ON_REPLACE``, ``SQL_ON_DELETE``) with the files of rows replaced or
deleted, so a stash of small values only has neither.

>>> SQL_SELECT.replace('{table}', 'stash')
'SELECT value FROM "stash" WHERE key = ?'
"""

SQL_CREATE = ('CREATE TABLE IF NOT EXISTS "{table}" '
              '(key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL)')
SQL_UPSERT = ('INSERT INTO "{table}" (key, value) VALUES (?, ?) '
              'ON CONFLICT (key) DO UPDATE SET value = excluded.value')
SQL_SELECT = 'SELECT value FROM "{table}" WHERE key = ?'
SQL_SELECT_MANY = 'SELECT key, value FROM "{table}" WHERE key IN ({marks})'
SQL_EXISTS = 'SELECT 1 FROM "{table}" WHERE key = ?'
SQL_DELETE = 'DELETE FROM "{table}" WHERE key = ?'
SQL_CLEAR = 'DELETE FROM "{table}"'
SQL_COUNT = 'SELECT COUNT(*) FROM "{table}"'
SQL_KEYS_FIRST = 'SELECT key FROM "{table}" ORDER BY key LIMIT ?'
SQL_KEYS_AFTER = 'SELECT key FROM "{table}" WHERE key > ? ORDER BY key LIMIT ?'
SQL_ITEMS_FIRST = 'SELECT key, value FROM "{table}" ORDER BY key LIMIT ?'
SQL_ITEMS_AFTER = ('SELECT key, value FROM "{table}" WHERE key > ? '
                   'ORDER BY key LIMIT ?')
SQL_JOURNAL_MODE = 'PRAGMA journal_mode'
SQL_WAL = 'PRAGMA journal_mode = WAL'
SQL_SYNCHRONOUS = 'PRAGMA synchronous = NORMAL'
SQL_NO_WAIT = 'PRAGMA busy_timeout = 0'
SQL_CHECKPOINT = 'PRAGMA wal_checkpoint(TRUNCATE)'
SQL_ORPHANS = ('CREATE TABLE IF NOT EXISTS "{table}_large_orphans" '
               '(name TEXT NOT NULL)')
SQL_ON_REPLACE = ('CREATE TRIGGER IF NOT EXISTS "{table}_large_replaced" '
                  'AFTER UPDATE OF value ON "{table}" '
                  "WHEN typeof(OLD.value) = 'text' "
                  'AND OLD.value IS NOT NEW.value BEGIN '
                  'INSERT INTO "{table}_large_orphans" (name) '
                  'VALUES (OLD.value); END')
SQL_ON_DELETE = ('CREATE TRIGGER IF NOT EXISTS "{table}_large_deleted" '
                 'AFTER DELETE ON "{table}" '
                 "WHEN typeof(OLD.value) = 'text' BEGIN "
                 'INSERT INTO "{table}_large_orphans" (name) '
                 'VALUES (OLD.value); END')
SQL_TAKE_ORPHANS = 'DELETE FROM "{table}_large_orphans" RETURNING name'
SQL_SIDE_NAMES = 'SELECT value FROM "{table}" WHERE typeof(value) = \'text\''
# reads map the file instead of copying pages through read() calls
SQL_MMAP = 'PRAGMA mmap_size = 67108864'
