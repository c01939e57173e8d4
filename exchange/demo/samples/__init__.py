"""Example connectors of the demo city's real-estate case, with their department data.

Three departments, three kinds of system, as the seeds' 不动产 case needs them:

- 公安局: resident ID cards exported as CSV in **GBK** with Chinese headers, 男/女 and
  汉族, dates like 1985年03月12日 (``gongan_resident_id_cards.toml``);
- 住建局: filed sales contracts as **JSON Lines** (``zhujian_sales_contract_filings.toml``);
- 税务局: deed-tax payments in a **SQLite** database, read incrementally by update time
  (``shuiwu_deed_tax_payments.toml``).

The data is generated (``python -m exchange.demo.samples.generate``) from the demo city, so
it matches the rest of the demo; a few rows are wrong on purpose (a wrong ID check
digit, a missing required field, an unknown code, a bad date, a line in the wrong
encoding, a line that is not JSON) to show how a connector reports them.
"""
