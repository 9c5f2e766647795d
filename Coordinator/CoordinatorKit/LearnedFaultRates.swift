import Foundation
import SchedCore
import Wire

/// Fault rates that survive a restart and a take-over: at the start of each term the coordinator
/// learns them again from its accounting (every ended attempt's chip-hours, and whether a fault
/// ended it), each attempt weighed by how long ago it ended, half for every `--fault-rate-half-life`.
/// What attempts see after the start is counted beside it, as before.
enum LearnedFaultRates {
    /// The most recent ended attempts read at a start: enough for a rate, and a bounded start.
    static let accountsRead = 20_000

    /// How far back accounts are read: an attempt older than ten half-lives weighs under a thousandth.
    static func window(halfLife: Double) -> Double { halfLife * 10 }

    /// Faults and chip-hours per chip model, weighed by age at `now`; summed in the order the attempts
    /// ended, so that the same accounting gives the same figures.
    static func exposure(_ accounts: [AttemptAccount], now: Double, halfLife: Double) -> [ChipModelID: FaultExposure] {
        var learned: [ChipModelID: FaultExposure] = [:]
        let ordered = accounts.sorted { ($0.endedAt, $0.job, $0.attempt) < ($1.endedAt, $1.job, $1.attempt) }
        for account in ordered where account.model != ChipModelID.hostOnly.name && account.chipHours > 0 {
            let age = max(now - account.endedAt, 0)
            let weight = halfLife > 0 ? pow(0.5, age / halfLife) : 1
            var seen = learned[ChipModelID(account.model)] ?? FaultExposure()
            seen.chipHours += account.chipHours * weight
            if account.faulted == true { seen.faults += weight }
            learned[ChipModelID(account.model)] = seen
        }
        return learned
    }
}

extension CoordinatorState {
    /// Reads the accounting back (at the start of a term): the fault rates, and the paces past runs
    /// of each job name were measured at.
    func learnFromAccounting(now: Double) async {
        let halfLife = configuration.faultRateHalfLife
        do {
            let accounts = try await store.accounts(
                HistoryQuery(limit: LearnedFaultRates.accountsRead),
                since: now - LearnedFaultRates.window(halfLife: halfLife), until: nil)
            faultRates.learned = LearnedFaultRates.exposure(accounts, now: now, halfLife: halfLife)
            for account in accounts { pastRunPaces.note(account, catalog: configuration.catalog) }
            for model in faultRates.learned.keys.sorted() {
                let seen = faultRates.learned[model]!
                logger.info(
                    "\(model): learned \(formatSignificant(seen.faults)) faults in \(formatSignificant(seen.chipHours)) chip-hours from the accounting; \(formatSignificant(faultRates.perChipHour(model))) a chip-hour with the prior"
                )
            }
        } catch {
            // The rates start from the prior, as before there was accounting: said, not fatal.
            logger.warning(
                "cannot read the accounting to learn fault rates and past runs' paces; the rates start from the prior: \(error)"
            )
        }
    }

    /// Each chip model's fault rate as the expected-finish rule weighs it, for `HEALTH`.
    func faultRateReport() -> [ModelFaultRate] {
        faultRates.models.map { model in
            let seen = faultRates.observed(model)
            return ModelFaultRate(
                model: model.name, perChipHour: faultRates.perChipHour(model), faults: seen.faults,
                chipHours: seen.chipHours, prior: faultRates.prior[model])
        }
    }
}
