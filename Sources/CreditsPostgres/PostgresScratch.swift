import CreditsStore
import Logging

/// For the simulator's soak and the benchmarks only: empties a scratch database.
public enum PostgresScratch {
    /// Drops every table, sequence and function of the database's `public` schema (the
    /// ledger's), so that the next store opened on it starts from nothing.
    public static func reset(_ url: PostgresStoreURL, logger: Logger) throws(StoreError) {
        let session = PostgresSession(url: url, role: "scratch", logger: logger)
        defer { session.close() }
        try session.query("DROP SCHEMA IF EXISTS public CASCADE", "dropping the scratch schema")
        try session.query("CREATE SCHEMA public", "creating the scratch schema")
    }
}
