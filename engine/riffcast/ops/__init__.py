"""Running a station for weeks: health and dead air (``health``, ``dead_air``), Prometheus
metrics (``metrics``), open-file and handshake limits (``limits``), rate and log limits shared by
every socket (``ratelimit``) and the allocator's settings (``memory``). Never imports station."""
