SELECT coalesce((SELECT pending_events FROM pgq.get_consumer_info(:'q', 'bench')), 0);
