import CreditsPostgres
import CreditsStore
import Logging

/// Opens a reader of the configured store: the shared PostgreSQL database when `store.url` is
/// set (any instance answers any read), else the SQLite file.
public enum StoreReaders {
    public static func open(
        _ configuration: ServiceConfiguration,
        logger: Logger = Logger(label: "credits.reader")
    ) throws(StoreError) -> any LedgerReading {
        if let url = configuration.storeURL { return PostgresLedgerReader(url: url, logger: logger) }
        return try LedgerReader(path: configuration.storePath)
    }

    /// Where the store is, for messages.
    public static func location(_ configuration: ServiceConfiguration) -> String {
        configuration.storeURL.map(String.init(describing:)) ?? configuration.storePath
    }
}
