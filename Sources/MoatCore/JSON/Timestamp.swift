/// UTC timestamps for logs and status documents, without Foundation (MoatCore has no dependencies).
public enum Timestamp {
    /// `2026-11-29T09:12:03.123Z`.
    public static func iso8601(millis: Int64) -> String {
        let seconds = millis.quotientAndRemainder(dividingBy: 1000)
        let days = seconds.quotient.quotientAndRemainder(dividingBy: 86_400)
        var (day, secondOfDay) = (days.quotient, days.remainder)
        if secondOfDay < 0 {
            secondOfDay += 86_400
            day -= 1
        }
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = day + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let dayOfMonth = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let millisecond = (seconds.remainder + 1000) % 1000
        return
            "\(pad(year, 4))-\(pad(month, 2))-\(pad(dayOfMonth, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(millisecond, 3))Z"
    }
}
