"""Looking ahead: the per-stage win model, its validation, open deals scored, the forecast and its backtest."""
