"""KeyBuzz policy pack: estate guards as plain rules (`rules`) and their CrossGuard wiring (`pack`)."""
